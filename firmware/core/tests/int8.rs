//! The faster int8 kernels against the reference kernels: random shapes with a fixed seed, and
//! the edges (saturation at −128/127, odd sizes, strides, padding, extreme zero points).

use tinyml_core::int8::{self, Geometry, I32s, Requant, VectorUnit};

/// xorshift64*: reproducible without dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as usize) as i32
    }
    fn bytes(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i8> {
        (0..n).map(|_| self.int(lo, hi) as i8).collect()
    }
}

fn le(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A layer's constants: bias, folded bias, multipliers, shifts.
struct Layer {
    bias: Vec<i32>,
    folded: Vec<u8>,
    bias_le: Vec<u8>,
    mult: Vec<u8>,
    shift: Vec<u8>,
    weights: Vec<u8>,
    zp: i32,
    out_zp: i32,
    act: (i8, i8),
}

impl Layer {
    /// Random constants; `sum(ch)` gives the sum of channel `ch`'s weights.
    fn new(
        rng: &mut Rng,
        channels: usize,
        weights: Vec<i8>,
        sum: impl Fn(&[i8], usize) -> i32,
        extreme: bool,
    ) -> Layer {
        let zp = if extreme {
            [-128, 127][rng.below(2)]
        } else {
            rng.int(-128, 127)
        };
        let bias: Vec<i32> = (0..channels).map(|_| rng.int(-5000, 5000)).collect();
        let folded: Vec<i32> = (0..channels)
            .map(|ch| bias[ch].wrapping_sub(zp.wrapping_mul(sum(&weights, ch))))
            .collect();
        // At the edges, multipliers of exactly 0.5 and 0.75 too: their products land on ties,
        // where the rounding rules show.
        let mult: Vec<i32> = (0..channels)
            .map(|_| match (extreme, rng.below(3)) {
                (true, 0) => 1 << 30,
                (true, 1) => 3 << 29,
                _ => rng.int(1 << 30, i32::MAX),
            })
            .collect();
        let shift: Vec<i32> = (0..channels)
            .map(|_| {
                if extreme {
                    rng.int(-2, 3)
                } else {
                    rng.int(-12, 1)
                }
            })
            .collect();
        let lo = rng.int(-128, 0) as i8;
        let hi = rng.int(lo as i32, 127) as i8;
        Layer {
            bias_le: le(&bias),
            bias,
            folded: le(&folded),
            mult: le(&mult),
            shift: le(&shift),
            weights: weights.iter().map(|&w| w as u8).collect(),
            zp,
            out_zp: rng.int(-128, 127),
            act: (lo, hi),
        }
    }

    fn requant(&self) -> Requant<'_> {
        Requant {
            multiplier: I32s(&self.mult),
            shift: I32s(&self.shift),
            out_zero_point: self.out_zp,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
}

fn geometry(rng: &mut Rng, depthwise: bool) -> Geometry {
    let kh = 1 + rng.below(5);
    let kw = 1 + rng.below(5);
    let in_h = kh + rng.below(9);
    let in_w = kw + rng.below(9);
    let stride = 1 + rng.below(3);
    let same = rng.below(2) == 0;
    let (pt, pl, pb, pr) = if same {
        let pt = rng.below(kh);
        let pl = rng.below(kw);
        (pt, pl, rng.below(kh), rng.below(kw))
    } else {
        (0, 0, 0, 0)
    };
    let in_c = 1 + rng.below(if depthwise { 80 } else { 9 });
    Geometry {
        in_h,
        in_w,
        in_c,
        out_h: (in_h + pt + pb - kh) / stride + 1,
        out_w: (in_w + pl + pr - kw) / stride + 1,
        // Now and then more output channels than the faster kernels decode at once (64).
        out_c: match (depthwise, rng.below(8)) {
            (true, _) => in_c,
            (false, 0) => 60 + rng.below(80),
            _ => 1 + rng.below(12),
        },
        kh,
        kw,
        stride,
        pad_top: pt,
        pad_left: pl,
    }
}

fn check_conv(rng: &mut Rng, extreme: bool) {
    let g = geometry(rng, false);
    check_conv_on(rng, g, extreme);
}

/// The reference, the dispatching `conv2d` and every vector unit this processor has (the
/// board's portable kernel among them) on one random layer of geometry `g`: the same bytes.
fn check_conv_on(rng: &mut Rng, g: Geometry, extreme: bool) {
    let k = g.patch_len();
    let (lo, hi) = if extreme { (127, 127) } else { (-128, 127) };
    let weights = if extreme {
        vec![[127i8, -128][rng.below(2)]; k * g.out_c]
    } else {
        rng.bytes(k * g.out_c, -127, 127)
    };
    let layer = Layer::new(
        rng,
        g.out_c,
        weights,
        |w, ch| w[ch * k..(ch + 1) * k].iter().map(|&v| v as i32).sum(),
        extreme,
    );
    let input = rng.bytes(g.in_h * g.in_w * g.in_c, lo, hi);
    let n = g.out_h * g.out_w * g.out_c;
    let (mut a, mut b) = (vec![0i8; n], vec![0i8; n]);
    let mut patch = vec![0i8; k];
    let q = layer.requant();
    int8::conv2d_reference(
        &g,
        layer.zp,
        &layer.weights,
        I32s(&layer.bias_le),
        &q,
        &input,
        &mut a,
    );
    int8::conv2d(
        &g,
        layer.zp,
        &layer.weights,
        I32s(&layer.folded),
        &q,
        &input,
        &mut b,
        &mut patch,
    );
    assert_eq!(a, b, "conv2d {g:?}, zero point {}", layer.zp);
    for unit in VectorUnit::ALL.into_iter().filter(|u| u.available()) {
        let mut c = vec![0i8; n];
        int8::conv2d_on(
            unit,
            &g,
            layer.zp,
            &layer.weights,
            I32s(&layer.folded),
            &q,
            &input,
            &mut c,
            &mut patch,
        );
        assert_eq!(a, c, "conv2d on {unit:?}: {g:?}, zero point {}", layer.zp);
    }
    assert!(a.iter().all(|&v| v >= layer.act.0 && v <= layer.act.1));
    let _ = layer.bias;
}

fn check_depthwise(rng: &mut Rng, extreme: bool) {
    let g = geometry(rng, true);
    let c = g.in_c;
    let weights = rng.bytes(g.kh * g.kw * c, -127, 127);
    let taps = g.kh * g.kw;
    let layer = Layer::new(
        rng,
        c,
        weights,
        |w, ch| (0..taps).map(|t| w[t * c + ch] as i32).sum(),
        extreme,
    );
    let input = rng.bytes(g.in_h * g.in_w * c, -128, 127);
    let n = g.out_h * g.out_w * c;
    let (mut a, mut b) = (vec![0i8; n], vec![0i8; n]);
    let q = layer.requant();
    int8::depthwise_conv2d_reference(
        &g,
        layer.zp,
        &layer.weights,
        I32s(&layer.bias_le),
        &q,
        &input,
        &mut a,
    );
    int8::depthwise_conv2d(
        &g,
        layer.zp,
        &layer.weights,
        I32s(&layer.bias_le),
        &q,
        &input,
        &mut b,
    );
    assert_eq!(a, b, "depthwise {g:?}");
}

fn check_fully_connected(rng: &mut Rng, extreme: bool) {
    let inputs = 1 + rng.below(300);
    let outputs = if rng.below(8) == 0 {
        60 + rng.below(100)
    } else {
        1 + rng.below(20)
    };
    let weights = rng.bytes(inputs * outputs, -127, 127);
    let layer = Layer::new(
        rng,
        outputs,
        weights,
        |w, j| {
            w[j * inputs..(j + 1) * inputs]
                .iter()
                .map(|&v| v as i32)
                .sum()
        },
        extreme,
    );
    let input = rng.bytes(inputs, -128, 127);
    let (mut a, mut b) = (vec![0i8; outputs], vec![0i8; outputs]);
    let q = layer.requant();
    int8::fully_connected_reference(
        layer.zp,
        &layer.weights,
        I32s(&layer.bias_le),
        &q,
        &input,
        &mut a,
    );
    int8::fully_connected(&layer.weights, I32s(&layer.folded), &q, &input, &mut b);
    assert_eq!(a, b, "fully connected {inputs}→{outputs}");
    for unit in VectorUnit::ALL.into_iter().filter(|u| u.available()) {
        let mut c = vec![0i8; outputs];
        int8::fully_connected_on(
            unit,
            &layer.weights,
            I32s(&layer.folded),
            &q,
            &input,
            &mut c,
        );
        assert_eq!(a, c, "fully connected on {unit:?}: {inputs}→{outputs}");
    }
}

#[test]
fn optimised_kernels_equal_the_reference_on_random_shapes() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..400 {
        check_conv(&mut rng, false);
        check_depthwise(&mut rng, false);
        check_fully_connected(&mut rng, false);
    }
}

#[test]
fn optimised_kernels_equal_the_reference_at_the_edges() {
    let mut rng = Rng(0xed6e_0000_0000_1001);
    for _ in 0..200 {
        check_conv(&mut rng, true);
        check_depthwise(&mut rng, true);
        check_fully_connected(&mut rng, true);
    }
}

#[test]
fn wide_filters_take_several_passes_or_the_portable_kernel() {
    // 5×5 windows of 36 channels (900 taps: 8 channels per AVX2 pass and 16 per VNNI pass, so
    // 3 or 2 passes for 20), of 80 (2,000 taps: the portable kernel instead of AVX2, 2 passes
    // of VNNI for 9) and of 100 (2,500 taps: the portable kernel on every unit).
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (in_c, out_c) in [(36, 20), (80, 9), (100, 3)] {
        for extreme in [false, true] {
            let g = Geometry {
                in_h: 7,
                in_w: 6,
                in_c,
                out_h: 3,
                out_w: 2,
                out_c,
                kh: 5,
                kw: 5,
                stride: 1,
                pad_top: 0,
                pad_left: 0,
            };
            check_conv_on(&mut rng, g, extreme);
        }
    }
}

#[test]
fn laptops_use_their_fastest_vector_unit() {
    #[cfg(target_arch = "x86_64")]
    let expected = if std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512f")
    {
        VectorUnit::Avx512Vnni
    } else if std::is_x86_feature_detected!("avx2") {
        VectorUnit::Avx2
    } else {
        VectorUnit::Portable
    };
    #[cfg(not(target_arch = "x86_64"))]
    let expected = VectorUnit::Portable;
    assert_eq!(VectorUnit::best(), expected);
    assert!(VectorUnit::Portable.available());
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        VectorUnit::Avx2.available(),
        std::is_x86_feature_detected!("avx2")
    );
}

#[test]
fn saturation_stays_in_the_activation_range() {
    // All inputs and weights at their largest: the accumulator is far beyond int8.
    let g = Geometry {
        in_h: 3,
        in_w: 3,
        in_c: 4,
        out_h: 1,
        out_w: 1,
        out_c: 2,
        kh: 3,
        kw: 3,
        stride: 1,
        pad_top: 0,
        pad_left: 0,
    };
    let weights = vec![127u8; 72];
    let bias = le(&[0, 0]);
    let mult = le(&[1 << 30, 1 << 30]);
    let shift = le(&[0, 0]);
    let q = Requant {
        multiplier: I32s(&mult),
        shift: I32s(&shift),
        out_zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    let input = vec![127i8; 36];
    let mut out = [0i8; 2];
    int8::conv2d_reference(&g, -128, &weights, I32s(&bias), &q, &input, &mut out);
    assert_eq!(out, [127, 127]);
    let input = vec![-128i8; 36];
    let neg: Vec<u8> = vec![127u8; 72];
    int8::conv2d_reference(&g, 127, &neg, I32s(&bias), &q, &input, &mut out);
    assert_eq!(out, [-128, -128]);
}

#[test]
fn pooling_and_clamp() {
    let g = Geometry {
        in_h: 4,
        in_w: 5,
        in_c: 2,
        out_h: 2,
        out_w: 2,
        out_c: 2,
        kh: 2,
        kw: 2,
        stride: 2,
        pad_top: 0,
        pad_left: 0,
    };
    let input: Vec<i8> = (0..40).map(|i| (i * 7 % 256) as u8 as i8).collect();
    let mut max = [0i8; 8];
    let mut avg = [0i8; 8];
    int8::max_pool(&g, &input, &mut max);
    int8::avg_pool(&g, &input, &mut avg);
    for oy in 0..2 {
        for ox in 0..2 {
            for c in 0..2 {
                let vals: Vec<i32> = (0..2)
                    .flat_map(|ky| (0..2).map(move |kx| (oy * 2 + ky, ox * 2 + kx)))
                    .map(|(y, x)| input[(y * 5 + x) * 2 + c] as i32)
                    .collect();
                let at = (oy * 2 + ox) * 2 + c;
                assert_eq!(max[at] as i32, *vals.iter().max().unwrap());
                let mean = vals.iter().sum::<i32>() as f64 / 4.0;
                // Ties away from zero.
                let expected = if mean >= 0.0 {
                    (mean + 0.5).floor()
                } else {
                    (mean - 0.5).ceil()
                };
                assert_eq!(avg[at] as f64, expected, "{vals:?}");
            }
        }
    }
    let mut out = [0i8; 4];
    int8::clamp(-10, 20, &[-128, -10, 5, 127], &mut out);
    assert_eq!(out, [-10, -10, 5, 20]);
}

#[test]
fn kernels_never_read_past_short_slices() {
    // Shapes that promise more than the slices hold: the kernels stop instead of panicking.
    let g = Geometry {
        in_h: 8,
        in_w: 8,
        in_c: 3,
        out_h: 8,
        out_w: 8,
        out_c: 4,
        kh: 3,
        kw: 3,
        stride: 1,
        pad_top: 1,
        pad_left: 1,
    };
    let q = Requant {
        multiplier: I32s(&[]),
        shift: I32s(&[]),
        out_zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    let mut out = [0i8; 5];
    let mut patch = [0i8; 4];
    int8::conv2d(&g, 0, &[1, 2], I32s(&[]), &q, &[1; 7], &mut out, &mut patch);
    int8::conv2d_reference(&g, 0, &[1, 2], I32s(&[]), &q, &[1; 7], &mut out);
    int8::depthwise_conv2d(&g, 0, &[1, 2], I32s(&[]), &q, &[1; 7], &mut out);
    int8::depthwise_conv2d_reference(&g, 0, &[1, 2], I32s(&[]), &q, &[1; 7], &mut out);
    int8::fully_connected(&[1, 2, 3], I32s(&[]), &q, &[1; 7], &mut out);
    int8::max_pool(&g, &[1; 7], &mut out);
    int8::avg_pool(&g, &[1; 7], &mut out);
    int8::softmax(I32s(&[]), &[1, 2, 3], &mut out);
}

/// Geometries past 2^32 need a 64-bit `usize` to write down (on 32 bits they cannot exist).
#[cfg(target_pointer_width = "64")]
#[test]
fn absurd_geometries_neither_panic_nor_overrun() {
    // Sizes whose products overflow, a zero stride, padding beyond every window: each unit
    // either runs on what the slices hold or leaves the layer to the portable kernel, which
    // reads and writes only inside the slices. (The model loader rejects all of these; the
    // kernels are public, so they must hold on their own. The fuzzer runs them under
    // AddressSanitizer.)
    let units = || VectorUnit::ALL.into_iter().filter(|u| u.available());
    let one = |in_h, in_w, in_c, out_h, stride| Geometry {
        in_h,
        in_w,
        in_c,
        out_h,
        out_w: 1,
        out_c: in_c,
        kh: 1,
        kw: 1,
        stride,
        pad_top: 0,
        pad_left: 0,
    };
    let pools = [
        (one(1, 1, 8, 1 << 61, 0), 8, 0),
        (one(1 << 61, 1, 8, 1, 1), 0, 0),
        (
            Geometry {
                kh: 2,
                out_h: 2,
                stride: usize::MAX,
                ..one(1, 1, 8, 2, 1)
            },
            8,
            16,
        ),
    ];
    for (g, inputs, outputs) in pools {
        for unit in units() {
            let mut out = vec![0i8; outputs];
            int8::max_pool_on(unit, &g, &vec![1; inputs], &mut out);
        }
    }
    let q = Requant {
        multiplier: I32s(&le(&[1 << 30])),
        shift: I32s(&le(&[0])),
        out_zero_point: 0,
        act_min: -128,
        act_max: 127,
    };
    let (weights, bias) = ([3u8], le(&[5]));
    for unit in units() {
        // 2^32 × 2^32 input values promised, none given.
        let g = Geometry {
            in_w: 1 << 32,
            out_c: 1,
            ..one(1 << 32, 1, 1, 1, 1)
        };
        let mut out = [0i8; 1];
        let mut patch = [0i8; 1];
        int8::conv2d_on(
            unit,
            &g,
            0,
            &weights,
            I32s(&bias),
            &q,
            &[],
            &mut out,
            &mut patch,
        );
        // Padding wider than the window reaches: every window is padding, as in the reference.
        for pad_left in [3, 5] {
            let g = Geometry {
                pad_left,
                ..one(1, 1, 1, 1, 1)
            };
            let (mut a, mut b) = ([0i8; 1], [0i8; 1]);
            int8::conv2d_reference(&g, 7, &weights, I32s(&bias), &q, &[9], &mut a);
            let folded = le(&[5 - 7 * 3]);
            int8::conv2d_on(
                unit,
                &g,
                7,
                &weights,
                I32s(&folded),
                &q,
                &[9],
                &mut b,
                &mut patch,
            );
            assert_eq!(a, b, "{unit:?}, pad_left {pad_left}");
        }
    }
}

#[test]
fn max_pool_equals_its_definition_on_random_shapes() {
    let mut rng = Rng(0x9001_2345_6789_0003);
    for _ in 0..300 {
        let k = 1 + rng.below(3);
        let stride = 1 + rng.below(3);
        // Often multiples of 8 channels, which the vector units take 8 or 16 at a time.
        let c = if rng.below(2) == 0 {
            8 * (1 + rng.below(6))
        } else {
            1 + rng.below(20)
        };
        let (in_h, in_w) = (k + rng.below(8), k + rng.below(8));
        let g = Geometry {
            in_h,
            in_w,
            in_c: c,
            out_h: (in_h - k) / stride + 1,
            out_w: (in_w - k) / stride + 1,
            out_c: c,
            kh: k,
            kw: k,
            stride,
            pad_top: 0,
            pad_left: 0,
        };
        let input = rng.bytes(in_h * in_w * c, -128, 127);
        let mut out = vec![0i8; g.out_h * g.out_w * c];
        int8::max_pool(&g, &input, &mut out);
        for unit in VectorUnit::ALL.into_iter().filter(|u| u.available()) {
            let mut on = vec![0i8; out.len()];
            int8::max_pool_on(unit, &g, &input, &mut on);
            assert_eq!(on, out, "max pool on {unit:?}: {g:?}");
        }
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ch in 0..c {
                    let m = (0..k)
                        .flat_map(|ky| (0..k).map(move |kx| (oy * stride + ky, ox * stride + kx)))
                        .map(|(y, x)| input[(y * in_w + x) * c + ch])
                        .max()
                        .unwrap();
                    assert_eq!(out[(oy * g.out_w + ox) * c + ch], m, "{g:?}");
                }
            }
        }
    }
}

/// A convolution and the 2 × 2 max pooling after it in one pass: the bytes of the two ops, on
/// random layers and at the edges (ties, saturation, odd sizes where the pooling drops the last
/// row or column, more channels than one pass decodes).
#[test]
fn convolution_and_pooling_in_one_pass_equal_the_two_ops() {
    let mut rng = Rng(0xf00d_2222_3333_0005);
    let mut fused = 0;
    for round in 0..600 {
        let extreme = round % 3 == 2;
        let mut g = geometry(&mut rng, false);
        if g.out_h < 2 || g.out_w < 2 {
            continue;
        }
        if round % 50 == 0 {
            // Channels beyond a pass (16 per pass of the keyword CNN's second layer's size).
            g.out_c = 40 + rng.below(100);
        }
        let pool = Geometry {
            in_h: g.out_h,
            in_w: g.out_w,
            in_c: g.out_c,
            out_h: g.out_h / 2,
            out_w: g.out_w / 2,
            out_c: g.out_c,
            kh: 2,
            kw: 2,
            stride: 2,
            pad_top: 0,
            pad_left: 0,
        };
        let k = g.patch_len();
        let weights = if extreme {
            vec![[127i8, -128][rng.below(2)]; k * g.out_c]
        } else {
            rng.bytes(k * g.out_c, -127, 127)
        };
        let layer = Layer::new(
            &mut rng,
            g.out_c,
            weights,
            |w, ch| w[ch * k..(ch + 1) * k].iter().map(|&v| v as i32).sum(),
            extreme,
        );
        let (lo, hi) = if extreme { (127, 127) } else { (-128, 127) };
        let input = rng.bytes(g.in_h * g.in_w * g.in_c, lo, hi);
        let q = layer.requant();
        let mut conv = vec![0i8; g.out_h * g.out_w * g.out_c];
        int8::conv2d_reference(
            &g,
            layer.zp,
            &layer.weights,
            I32s(&layer.bias_le),
            &q,
            &input,
            &mut conv,
        );
        let n = pool.out_h * pool.out_w * pool.out_c;
        let mut expected = vec![0i8; n];
        int8::max_pool_portable(&pool, &conv, &mut expected);
        for unit in VectorUnit::ALL.into_iter().filter(|u| u.available()) {
            let mut out = vec![0i8; n];
            let ran = int8::conv2d_max_pool_on(
                unit,
                &g,
                &pool,
                layer.zp,
                &layer.weights,
                I32s(&layer.folded),
                &q,
                &input,
                &mut out,
            );
            if ran {
                fused += 1;
                assert_eq!(out, expected, "on {unit:?}: {g:?}, zero point {}", layer.zp);
            } else {
                assert!(out.iter().all(|&v| v == 0), "wrote without running: {g:?}");
            }
            assert!(!(ran && unit == VectorUnit::Portable));
        }
        // Any other pooling is not fused.
        let three = Geometry {
            kh: 3,
            kw: 3,
            out_h: 1,
            out_w: 1,
            ..pool
        };
        let mut out = vec![0i8; g.out_c];
        let q = layer.requant();
        let w = &layer.weights;
        let b = I32s(&layer.folded);
        assert!(!int8::conv2d_max_pool(
            &g, &three, layer.zp, w, b, &q, &input, &mut out
        ));
    }
    // On a laptop with a vector unit the fused kernel ran (it is not a test of nothing).
    #[cfg(target_arch = "x86_64")]
    if VectorUnit::best() != VectorUnit::Portable {
        assert!(fused > 300, "the fused kernel ran {fused} times");
    }
    let _ = fused;
}
