#!/usr/bin/env node
// The package's command: runs the compiled CLI (build it with `npm run build`).
import '../dist/src/cli/main.js';
