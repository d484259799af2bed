#!/usr/bin/env node
// Reference benchmark: the face-api.js networks Doppel ported to Rust/Burn (SSD MobileNetV1
// face detector, FaceLandmark68Net, FaceRecognitionNet), run the way their authors ship them:
// @vladmandic/face-api on TensorFlow.js (WASM backend, or the pure-JS CPU backend) under Node,
// on the same frames Doppel processes.
//
//   node face-api-reference.mjs --models <dir> --frames <dir> [--backend wasm|cpu] [--threads N]
//                               [--min-confidence 0.5] [--chain]
//
//   --models   folder with the face-api weight manifests + shards
//              (ssd_mobilenetv1_model-weights_manifest.json, face_landmark_68_model-*,
//              face_recognition_model-*), e.g. models/face-api
//   --frames   folder of binary PPM (P6) frames; every *.ppm in it, sorted by name
//              (ffmpeg -i in.mp4 -start_number 0 frames/%06d.ppm)
//   --backend  wasm (default) or cpu (pure JS, single-threaded)
//   --threads  XNNPACK threads for the wasm backend (default 2). N > 1 uses the threaded-SIMD
//              binary, 1 the single-threaded SIMD binary. Ignored by the cpu backend.
//   --chain    time the one-call chain detectAllFaces().withFaceLandmarks()
//              .withFaceDescriptors() instead of its three stages one by one (per-stage
//              seconds are then null)
//
// Every frame goes through detectAllFaces(SSD MobileNetV1, minConfidence 0.5), then
// landmarks and descriptors for every detected face. By default the three stages are run as
// face-api's own task classes (DetectAllFacesTask, DetectAllFaceLandmarksTask,
// ComputeAllFaceDescriptorsTask) awaited one after the other, which is exactly what the chain
// does internally, so each stage can be timed on its own; the run checks on the warm-up frame
// that the staged results equal the chained ones. The first frame is processed once untimed
// (warm-up), then all frames are timed, including the first one again. Reading and parsing the
// PPM files is not timed (reported separately as io_seconds); turning the pixels into a tensor
// is.
//
// stdout: one JSON object. Diagnostics go to stderr. Exit code 1 on any error.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const PROG = 'face-api-reference';

class UsageError extends Error {}

function fail(message) {
  process.stderr.write(`${PROG}: error: ${message}\n`);
  process.exit(1);
}

const USAGE = 'usage: node face-api-reference.mjs --models <dir> --frames <dir> '
  + '[--backend wasm|cpu] [--threads N] [--min-confidence X] [--chain]';

function parseArgs(argv) {
  const opts = { models: null, frames: null, backend: 'wasm', threads: 2, minConfidence: 0.5, chain: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, null];
    const value = () => {
      if (inline !== null) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--models': opts.models = value(); break;
      case '--frames': opts.frames = value(); break;
      case '--backend': opts.backend = value(); break;
      case '--threads': opts.threads = Number(value()); break;
      case '--min-confidence': opts.minConfidence = Number(value()); break;
      case '--chain': opts.chain = true; break;
      case '-h': case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default: throw new UsageError(`unknown argument: ${arg}`);
    }
  }
  if (!opts.models) throw new UsageError('--models <dir> is required');
  if (!opts.frames) throw new UsageError('--frames <dir> is required');
  if (!['wasm', 'cpu'].includes(opts.backend)) throw new UsageError(`--backend must be wasm or cpu, not ${opts.backend}`);
  if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 8) {
    throw new UsageError('--threads must be an integer from 1 to 8 (tfjs-backend-wasm preallocates 8 workers)');
  }
  if (!(opts.minConfidence > 0 && opts.minConfidence < 1)) throw new UsageError('--min-confidence must be in (0, 1)');
  return opts;
}

function requireDir(dir, what) {
  let st;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new Error(`${what} directory not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new Error(`${what} is not a directory: ${dir}`);
}

// --- weights ------------------------------------------------------------------------------

const MODELS = [
  ['ssdMobilenetv1', 'ssd_mobilenetv1_model'],
  ['faceLandmark68Net', 'face_landmark_68_model'],
  ['faceRecognitionNet', 'face_recognition_model'],
];

// Reads a tfjs weights manifest and its shards; checks everything is there before tfjs loads.
function readManifest(dir, model) {
  const manifestPath = path.join(dir, `${model}-weights_manifest.json`);
  if (!fs.existsSync(manifestPath)) throw new Error(`missing weights manifest: ${manifestPath}`);
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot parse ${manifestPath}: ${e.message}`);
  }
  if (!Array.isArray(manifest) || manifest.length === 0) throw new Error(`not a tfjs weights manifest: ${manifestPath}`);
  const groups = manifest.map((group) => {
    if (!Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new Error(`not a tfjs weights manifest: ${manifestPath}`);
    const shards = group.paths.map((p) => {
      const shard = path.join(dir, p);
      if (!fs.existsSync(shard)) throw new Error(`missing weights file ${shard} (listed in ${manifestPath})`);
      return fs.readFileSync(shard);
    });
    const data = Buffer.concat(shards);
    const bytesPer = { float32: 4, int32: 4, uint16: 2, float16: 2, uint8: 1, bool: 1 };
    const expected = group.weights.reduce((sum, w) => {
      const dtype = w.quantization ? w.quantization.dtype : w.dtype;
      return sum + w.shape.reduce((a, b) => a * b, 1) * (bytesPer[dtype] ?? 4);
    }, 0);
    if (data.length < expected) {
      throw new Error(`weights ${group.paths.join(', ')} in ${dir} are truncated: ${data.length} bytes, the manifest needs ${expected}`);
    }
    return { specs: group.weights, data };
  });
  return { manifestPath, groups };
}

// Same thing face-api's loadFromDisk does (tf.io.weightsLoaderFactory over fs.readFile), done
// directly: decode every group (dequantizing uint8 weights) and hand the map to the net.
function loadNet(tf, net, { manifestPath, groups }) {
  const weightMap = {};
  for (const { specs, data } of groups) {
    const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    Object.assign(weightMap, tf.io.decodeWeights(buf, specs));
  }
  try {
    net.loadFromWeightMap(weightMap);
  } catch (e) {
    throw new Error(`weights in ${manifestPath} do not fit ${net.constructor.name || 'the network'}: ${e.message}`);
  }
}

// --- frames -------------------------------------------------------------------------------

function listFrames(dir) {
  const names = fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.ppm')).sort();
  if (names.length === 0) throw new Error(`no *.ppm frames in ${dir}`);
  return names.map((n) => path.join(dir, n));
}

// Binary PPM (P6): "P6" <ws> width <ws> height <ws> maxval <one ws byte> pixels; '#' starts a
// comment up to the end of the line. maxval > 255 means 16-bit big-endian samples, scaled to 8.
function parsePPM(file) {
  const buf = fs.readFileSync(file);
  let pos = 0;
  const isSpace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const token = () => {
    for (;;) {
      while (pos < buf.length && isSpace(buf[pos])) pos++;
      if (buf[pos] === 0x23) { // '#'
        while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    const start = pos;
    while (pos < buf.length && !isSpace(buf[pos]) && buf[pos] !== 0x23) pos++;
    return buf.toString('latin1', start, pos);
  };
  if (token() !== 'P6') throw new Error(`${file}: not a binary PPM (P6) file`);
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new Error(`${file}: bad PPM size`);
  if (!(Number.isInteger(maxval) && maxval > 0 && maxval < 65536)) throw new Error(`${file}: bad PPM maxval`);
  pos++; // the single whitespace byte after maxval
  const n = width * height * 3;
  const rgb = new Int32Array(n);
  if (maxval < 256) {
    if (buf.length - pos < n) throw new Error(`${file}: truncated PPM (${buf.length - pos} of ${n} pixel bytes)`);
    if (maxval === 255) {
      for (let i = 0; i < n; i++) rgb[i] = buf[pos + i];
    } else {
      for (let i = 0; i < n; i++) rgb[i] = Math.round((buf[pos + i] * 255) / maxval);
    }
  } else {
    if (buf.length - pos < 2 * n) throw new Error(`${file}: truncated PPM (${buf.length - pos} of ${2 * n} pixel bytes)`);
    for (let i = 0; i < n; i++) rgb[i] = Math.round((buf.readUInt16BE(pos + 2 * i) * 255) / maxval);
  }
  return { width, height, rgb };
}

// --- backend ------------------------------------------------------------------------------

// tfjs-backend-wasm 4.22 under Node: WASM_HAS_MULTITHREAD_SUPPORT is hard-coded false
// (tensorflow/tfjs#3830), so it would load the single-threaded SIMD binary whatever
// setThreadsCount says. For N > 1 threads we force the flag on, point Emscripten's pthread
// workers at wasm-pthread-worker.cjs (the package's worker script, minus the Blob URLs Node
// cannot load), and -- because the C++ side caps the XNNPACK pool at
// min(requested, logical_cores / 2, 8), assuming two hyper-threads per core -- report at
// least 2N logical cores while the module initializes.
async function initWasm(tf, threads) {
  const wasmDist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  tf.setWasmPaths(wasmDist + path.sep);
  tf.setThreadsCount(threads);
  const threaded = threads > 1;
  const os = require('node:os');
  const realCpus = os.cpus;
  const realCreateObjectURL = URL.createObjectURL;
  if (threaded) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    const worker = path.join(HERE, 'wasm-pthread-worker.cjs');
    // Only called (by the backend's locateFile) for the pthread worker script.
    URL.createObjectURL = () => worker;
    os.cpus = function cpus() {
      const list = realCpus.call(os);
      while (list.length > 0 && list.length < 2 * threads) list.push(list[0]);
      return list;
    };
  }
  let ok;
  try {
    ok = await tf.setBackend('wasm');
    await tf.ready();
  } finally {
    URL.createObjectURL = realCreateObjectURL;
    os.cpus = realCpus;
  }
  if (!ok || tf.getBackend() !== 'wasm') throw new Error('could not initialize the tfjs wasm backend (see the messages above)');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const actual = tf.getThreadsCount();
  if (actual !== threads) {
    throw new Error(`asked tfjs-backend-wasm for ${threads} threads, its XNNPACK pool has ${actual}`);
  }
  let binary = 'tfjs-backend-wasm.wasm';
  if (simd && threaded) binary = 'tfjs-backend-wasm-threaded-simd.wasm';
  else if (simd) binary = 'tfjs-backend-wasm-simd.wasm';
  return { simd, multithread: threaded, binary, xnnpack_threads: actual };
}

// --- main ---------------------------------------------------------------------------------

const round = (x, d = 4) => (x === null ? null : Number(x.toFixed(d)));

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) fail(`${e.message}\n${USAGE}`);
    throw e;
  }

  // Everything that can be wrong on disk is checked before tfjs is loaded.
  requireDir(opts.models, '--models');
  requireDir(opts.frames, '--frames');
  const manifests = MODELS.map(([, model]) => readManifest(opts.models, model));
  const frames = listFrames(opts.frames);
  const first = parsePPM(frames[0]);

  // stdout carries exactly one JSON object: route library chatter to stderr.
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;

  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const { tf } = faceapi;

  let wasmInfo = null;
  if (opts.backend === 'wasm') {
    wasmInfo = await initWasm(tf, opts.threads);
  } else {
    if (!(await tf.setBackend('cpu'))) throw new Error('could not initialize the tfjs cpu backend');
    await tf.ready();
  }
  const threads = opts.backend === 'wasm' ? wasmInfo.xnnpack_threads : 1;

  MODELS.forEach(([net], i) => loadNet(tf, faceapi.nets[net], manifests[i]));

  const detectorOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: opts.minConfidence });
  const toTensor = ({ width, height, rgb }) => tf.tensor3d(rgb, [height, width, 3], 'int32');

  // The library's own chain, in one call.
  const runChain = (input) => faceapi.detectAllFaces(input, detectorOptions).withFaceLandmarks().withFaceDescriptors();

  // The same three tasks the chain builds, awaited one by one. Returns the results and the
  // seconds each stage took.
  const runStaged = async (input) => {
    const t0 = performance.now();
    const detections = await faceapi.detectAllFaces(input, detectorOptions);
    const t1 = performance.now();
    const withLandmarks = await new faceapi.DetectAllFaceLandmarksTask(
      detections.map((detection) => faceapi.extendWithFaceDetection({}, detection)), input, false,
    );
    const t2 = performance.now();
    const results = await new faceapi.ComputeAllFaceDescriptorsTask(withLandmarks, input);
    const t3 = performance.now();
    return { results, detect: (t1 - t0) / 1e3, landmarks: (t2 - t1) / 1e3, descriptor: (t3 - t2) / 1e3 };
  };

  // Warm-up (untimed) on the first frame; also checks that staged == chained.
  let consistency = null;
  {
    const input = toTensor(first);
    const chained = await runChain(input);
    const { results: staged } = await runStaged(input);
    input.dispose();
    if (chained.length !== staged.length) {
      throw new Error(`staged run found ${staged.length} faces on the warm-up frame, the chain ${chained.length}`);
    }
    let descriptorDiff = 0;
    let boxDiff = 0;
    chained.forEach((c, i) => {
      const s = staged[i];
      for (let k = 0; k < c.descriptor.length; k++) descriptorDiff = Math.max(descriptorDiff, Math.abs(c.descriptor[k] - s.descriptor[k]));
      const a = c.detection.box;
      const b = s.detection.box;
      boxDiff = Math.max(boxDiff, Math.abs(a.x - b.x), Math.abs(a.y - b.y), Math.abs(a.width - b.width), Math.abs(a.height - b.height));
    });
    consistency = { warmup_faces: chained.length, box_max_abs_diff_px: boxDiff, descriptor_max_abs_diff: descriptorDiff };
  }
  const tensorsBefore = tf.memory().numTensors;

  const seconds = { detect: 0, landmarks: 0, descriptor: 0, total: 0 };
  let ioSeconds = 0;
  let faces = 0;
  const facesPerFrame = [];
  const scores = [];
  const sizes = new Set();
  const cpu0 = process.cpuUsage();
  for (const file of frames) {
    const r0 = performance.now();
    const frame = parsePPM(file);
    ioSeconds += (performance.now() - r0) / 1e3;
    sizes.add(`${frame.width}x${frame.height}`);

    const t0 = performance.now();
    const input = toTensor(frame);
    let results;
    if (opts.chain) {
      results = await runChain(input);
    } else {
      const staged = await runStaged(input);
      results = staged.results;
      seconds.detect += staged.detect;
      seconds.landmarks += staged.landmarks;
      seconds.descriptor += staged.descriptor;
    }
    input.dispose();
    seconds.total += (performance.now() - t0) / 1e3;

    faces += results.length;
    facesPerFrame.push(results.length);
    for (const r of results) scores.push(r.detection.score);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const leaked = tf.memory().numTensors - tensorsBefore;

  const out = {
    backend: opts.backend,
    threads,
    frames: frames.length,
    faces,
    seconds: {
      detect: opts.chain ? null : round(seconds.detect),
      landmarks: opts.chain ? null : round(seconds.landmarks),
      descriptor: opts.chain ? null : round(seconds.descriptor),
      total: round(seconds.total),
    },
    fps: round(frames.length / seconds.total, 3),
    // Extras, for judging the numbers above.
    mode: opts.chain ? 'chain' : 'staged',
    frame_size: [...sizes],
    faces_per_frame: facesPerFrame,
    min_detection_score: scores.length ? round(Math.min(...scores)) : null,
    // process CPU time (all threads) / wall time of the frame loop: ~1 = one busy core
    cpu_utilization: round(cpuSeconds / (seconds.total + ioSeconds), 2),
    io_seconds: round(ioSeconds),
    leaked_tensors: leaked,
    consistency,
    wasm: wasmInfo,
    versions: { 'face-api': faceapi.version, ...tf.version, node: process.versions.node },
    min_confidence: opts.minConfidence,
  };
  // The wasm backend's pthread workers keep the event loop alive: exit once stdout is flushed.
  stdoutWrite(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
