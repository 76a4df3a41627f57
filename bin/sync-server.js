#!/usr/bin/env node
"use strict";
require("./launch")("sync-server", "../dist/src/cli/server.js");
