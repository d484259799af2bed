// Node `worker_threads` entry point for the pthreads of @tensorflow/tfjs-backend-wasm's
// threaded-SIMD build. face-api-reference.mjs points Emscripten at this file when it is run
// with `--backend wasm --threads N` (N > 1).
//
// Why it exists: tfjs-backend-wasm 4.22 hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false under
// Node (tensorflow/tfjs#3830) and, when threads are forced on, hands Emscripten its pthread
// worker script and its main script as Blob URLs, which Node's Worker cannot load. The
// Emscripten glue itself supports Node (worker_threads), so this file runs the unchanged
// worker script shipped in the package and makes its Blob-URL `importScripts` load the
// package's own threaded-SIMD glue from disk instead (same package version as the glue the
// main thread runs, so the two sides match).
'use strict';

const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');

// The worker receives the main script as a Blob and turns it into an object URL that it then
// reads with fs; answer with the on-disk copy instead.
URL.createObjectURL = () => mainScript;
URL.revokeObjectURL = () => {};

// tfjs escapes newlines the same way before wrapping this text in a Blob: the text came out
// of a template literal, so "\n" escapes inside its string literals are real newlines now.
const source = wasmWorkerContents.replace(/\n/g, '\\n');
// eslint-disable-next-line no-new-func
new Function('require', '__filename', source)(require, __filename);
