#!/usr/bin/env node
"use strict";
require("./launch")("sync-client", "../dist/src/cli/client.js");
