#!/usr/bin/env python3
"""Reference for `doppel bench train`: faceswap's Original model in TensorFlow/Keras on the CPU.

The same model as Doppel's `ModelKind::Original` (64x64x3 in; encoder: four 5x5 stride-2
convolutions 128..1024 with LeakyReLU 0.1, dense 1024, dense 4x4x1024, upscale 512; decoders:
upscales 256, 128, 64 and a 5x5 convolution to RGB with a sigmoid). One training iteration is
a batch of A through encoder + decoder A and a batch of B through encoder + decoder B, mean
absolute error, one Adam step (lr 5e-5, beta1 0.5, beta2 0.999, epsilon 1e-7).

Prints one JSON object: {"framework", "threads", "batch", "iterations", "train_examples_per_s",
"infer_batch", "infer_faces_per_s"}. Examples/s = 2 x batch x iterations / seconds, after
warm-up iterations that are not timed.

usage: original_tf.py [--batch 16] [--iterations 5] [--warmup 2] [--threads 2] [--infer-batch 64]
"""

import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--infer-batch", type=int, default=64)
    args = p.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    layers = tf.keras.layers

    def down(x, f):
        return layers.LeakyReLU(0.1)(layers.Conv2D(f, 5, strides=2, padding="same")(x))

    def upscale(x, f):
        x = layers.LeakyReLU(0.1)(layers.Conv2D(4 * f, 3, padding="same")(x))
        return layers.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(x)

    inp = layers.Input((64, 64, 3))
    x = inp
    for f in (128, 256, 512, 1024):
        x = down(x, f)
    x = layers.Dense(1024)(layers.Flatten()(x))
    x = layers.Reshape((4, 4, 1024))(layers.Dense(4 * 4 * 1024)(x))
    encoder = tf.keras.Model(inp, upscale(x, 512))

    def decoder():
        d_in = layers.Input((8, 8, 512))
        y = d_in
        for f in (256, 128, 64):
            y = upscale(y, f)
        return tf.keras.Model(d_in, layers.Conv2D(3, 5, padding="same", activation="sigmoid")(y))

    dec_a, dec_b = decoder(), decoder()
    variables = encoder.trainable_variables + dec_a.trainable_variables + dec_b.trainable_variables
    opt = tf.keras.optimizers.Adam(learning_rate=5e-5, beta_1=0.5, beta_2=0.999, epsilon=1e-7)

    @tf.function
    def step(a, b):
        with tf.GradientTape() as tape:
            loss_a = tf.reduce_mean(tf.abs(dec_a(encoder(a, training=True), training=True) - a))
            loss_b = tf.reduce_mean(tf.abs(dec_b(encoder(b, training=True), training=True) - b))
            loss = loss_a + loss_b
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss_a, loss_b

    @tf.function
    def infer(x):
        return dec_b(encoder(x, training=False), training=False)

    rng = np.random.default_rng(0)
    a = tf.constant(rng.random((args.batch, 64, 64, 3), dtype=np.float32))
    b = tf.constant(rng.random((args.batch, 64, 64, 3), dtype=np.float32))
    for _ in range(args.warmup):
        step(a, b)
    t = time.perf_counter()
    for _ in range(args.iterations):
        la, lb = step(a, b)
    float(la), float(lb)
    train_s = time.perf_counter() - t

    x = tf.constant(rng.random((args.infer_batch, 64, 64, 3), dtype=np.float32))
    infer(x).numpy()
    t = time.perf_counter()
    runs = 3
    for _ in range(runs):
        infer(x).numpy()
    infer_s = time.perf_counter() - t

    print(json.dumps({
        "framework": f"tensorflow-cpu {tf.__version__}",
        "threads": args.threads,
        "batch": args.batch,
        "iterations": args.iterations,
        "train_examples_per_s": 2 * args.batch * args.iterations / train_s,
        "infer_batch": args.infer_batch,
        "infer_faces_per_s": args.infer_batch * runs / infer_s,
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a clear message for the Rust side, never a bare traceback only
        print(f"original_tf: error: {e}", file=sys.stderr)
        sys.exit(1)
