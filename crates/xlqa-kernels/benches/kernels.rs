//! Criterion benches of the int8 kernels at the encoder's shapes and at a
//! dense-search shape, for every kernel this CPU supports.
//!
//! `cargo bench -p xlqa-kernels` (add `-- --quick` for a short run; the
//! encoder and index comparisons against peers are in `bench/`).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use xlqa_kernels::qgemm::{matmul_with, Epilogue, Kernel, PackedWeight, QuantizedRows};

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

fn qgemm(c: &mut Criterion) {
    // (rows = batch × tokens, inputs, outputs): QKV, FFN in, FFN out of
    // multilingual-e5-small at 32 × 128 tokens; one question; a dense scan.
    let shapes = [
        ("qkv 4096x384x1152", 4096, 384, 1152),
        ("ffn-in 4096x384x1536", 4096, 384, 1536),
        ("ffn-out 4096x1536x384", 4096, 1536, 384),
        ("question 19x384x1536", 19, 384, 1536),
        ("scan 1x384x100000", 1, 384, 100_000),
    ];
    let mut g = c.benchmark_group("qgemm");
    g.sample_size(10);
    for (name, m, k, n) in shapes {
        let w = PackedWeight::quantize(&data(n * k, 1), n, k);
        let mut a = QuantizedRows::default();
        a.quantize(&data(m * k, 2), m, k);
        let bias = data(n, 3);
        let mut out = vec![0f32; m * n];
        g.throughput(Throughput::Elements((m * k * n) as u64));
        for kern in [Kernel::Avx512Vnni, Kernel::Avx2, Kernel::Scalar] {
            if !kern.supported() || (kern == Kernel::Scalar && m * n > 100_000) {
                continue;
            }
            g.bench_with_input(BenchmarkId::new(kern.name(), name), &(), |b, _| {
                b.iter(|| matmul_with(kern, &a, &w, Epilogue::Bias(&bias), &mut out))
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("quantize-rows");
    let x = data(4096 * 1536, 4);
    let mut q = QuantizedRows::default();
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("4096x1536", |b| b.iter(|| q.quantize(&x, 4096, 1536)));
    g.finish();
}

criterion_group!(benches, qgemm);
criterion_main!(benches);
