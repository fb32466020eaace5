#!/usr/bin/env node
// The `proj-tokenize` command. A committed file, so that `npm install` links the command even before `npm run build`
// has made dist/ (npm links no bin whose file is missing); the CLI itself is built into dist/cli.js.
import "../dist/cli.js";
