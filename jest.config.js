/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/src", "<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  // A test that does real I/O or spawns processes can take seconds on a busy 2-core machine; 5 s (jest's default) made
  // correct tests time out under load. Tests that need longer still set their own timeout.
  testTimeout: 30_000,
};
