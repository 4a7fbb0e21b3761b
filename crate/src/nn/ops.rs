//! Convolution and pooling as dfdx operations with hand-written forward and backward passes.
//!
//! dfdx 0.13 has `Conv2D` and `MaxPool2D` only behind its `nightly` feature, which does not
//! build on stable Rust. These ops plug into dfdx's tape instead (`Tape::add_backward_op`), so a
//! convolution is `im2col` (here) then a matrix product (dfdx, backed by `gemm`), and gradients
//! flow through both.
//!
//! Activations of image layers are 2-D tensors `[batch * height * width, channels]`: one row per
//! pixel, channels last (NHWC), the layout the board's int8 kernels use too.

use dfdx::prelude::*;
use rayon::prelude::*;

/// Moves the gradient of an op's output out of `grads`: it is complete when the op's backward
/// runs, and nothing reads it afterwards, so it need not be copied. (A macro: dfdx does not
/// export the ghost tensor type a function would have to name.)
macro_rules! take_grad {
    ($grads:expr, $ghost:expr) => {
        std::mem::take(&mut **$grads.get_or_alloc_mut($ghost)?)
    };
}

/// A 2-D tensor with run-time sizes.
pub type T2<E, T> = Tensor<(usize, usize), E, Cpu, T>;

/// The values of a contiguous tensor (a plain copy of its buffer: dfdx's `as_vec` walks the
/// tensor element by element, several times slower).
pub fn values<S: dfdx::shapes::Shape, E: Dtype, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    let mut v = vec![E::default(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Sizes of an image activation: `batch` images of `height × width × channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    /// Images in the batch.
    pub batch: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

/// Where a convolution's kernel goes: size, stride, and zero padding before the first row and
/// column (after the last ones, as much as the output size needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Kernel rows and columns.
    pub kernel: usize,
    /// Step between kernel positions.
    pub stride: usize,
    /// Zero rows above the image.
    pub pad_top: usize,
    /// Zero columns left of the image.
    pub pad_left: usize,
    /// Output rows.
    pub out_height: usize,
    /// Output columns.
    pub out_width: usize,
}

/// Rearranges every kernel-sized patch of `x` (`[b*h*w, c]`) into a row of the result
/// (`[b*oh*ow, k*k*c]`, columns ordered `(ky, kx, c)`), so that a convolution is one matrix
/// product. Backward adds each patch's gradient back onto the pixels it came from (col2im);
/// with `input_grad` false (the network's input) that is skipped. Images of the batch are
/// processed in parallel, each by one thread: the result does not depend on the thread count.
pub fn im2col<E: Dtype, T: Tape<E, Cpu>>(
    x: T2<E, T>,
    img: Image,
    win: Window,
    input_grad: bool,
) -> T2<E, T> {
    let (x, mut tape) = x.split_tape();
    let data = values(&x);
    let c = img.channels;
    let width = win.kernel * win.kernel * c;
    let (in_len, out_len) = (
        img.height * img.width * c,
        win.out_height * win.out_width * width,
    );
    let mut cols = vec![E::default(); img.batch * out_len];
    cols.par_chunks_mut(out_len.max(1))
        .zip(data.par_chunks(in_len.max(1)))
        .for_each(|(cols, data)| {
            for_each_span(img, win, |row, tap, pixel, len| {
                let (dst, src) = (row * width + tap * c, pixel * c);
                cols[dst..dst + len * c].copy_from_slice(&data[src..src + len * c]);
            });
        });
    let out = x
        .device()
        .tensor_from_vec(cols, (img.batch * win.out_height * win.out_width, width));
    if input_grad {
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let g_out: Vec<E> = take_grad!(grads, &out_ghost);
            let g_x = grads.get_or_alloc_mut(&x_ghost)?;
            g_x.par_chunks_mut(in_len.max(1))
                .zip(g_out.par_chunks(out_len.max(1)))
                .for_each(|(g_x, g_out)| {
                    for_each_span(img, win, |row, tap, pixel, len| {
                        let (src, dst) = (row * width + tap * c, pixel * c);
                        for (g, &o) in g_x[dst..dst + len * c]
                            .iter_mut()
                            .zip(&g_out[src..src + len * c])
                        {
                            *g += o;
                        }
                    });
                });
            Ok(())
        });
    }
    out.put_tape(tape)
}

/// Calls `f(output_row, first_tap, first_pixel, taps)` (rows and pixels counted within one
/// image) for every run of kernel taps along one kernel row that lands inside the image: those taps read `taps` consecutive pixels, so
/// `taps * channels` consecutive values (channels last). Taps on the padding are skipped.
fn for_each_span(img: Image, win: Window, mut f: impl FnMut(usize, usize, usize, usize)) {
    let (h, w, k) = (img.height as isize, img.width as isize, win.kernel as isize);
    for oy in 0..win.out_height {
        let y0 = (oy * win.stride) as isize - win.pad_top as isize;
        for ox in 0..win.out_width {
            let row = oy * win.out_width + ox;
            let x0 = (ox * win.stride) as isize - win.pad_left as isize;
            let (kx_lo, kx_hi) = ((-x0).max(0), (w - x0).min(k));
            if kx_lo >= kx_hi {
                continue;
            }
            for ky in 0..k {
                let y = y0 + ky;
                if y < 0 || y >= h {
                    continue;
                }
                let pixel = y as usize * img.width + (x0 + kx_lo) as usize;
                f(
                    row,
                    (ky * k + kx_lo) as usize,
                    pixel,
                    (kx_hi - kx_lo) as usize,
                );
            }
        }
    }
}

/// Calls `f(output_row, tap, input_pixel)` for every kernel tap that lands inside the image
/// (taps on the zero padding are skipped: they contribute nothing).
fn for_each_tap(img: Image, win: Window, mut f: impl FnMut(usize, usize, usize)) {
    let (h, w, k) = (img.height as isize, img.width as isize, win.kernel);
    for b in 0..img.batch {
        for oy in 0..win.out_height {
            for ox in 0..win.out_width {
                let row = (b * win.out_height + oy) * win.out_width + ox;
                let y0 = (oy * win.stride) as isize - win.pad_top as isize;
                let x0 = (ox * win.stride) as isize - win.pad_left as isize;
                for ky in 0..k {
                    let y = y0 + ky as isize;
                    if y < 0 || y >= h {
                        continue;
                    }
                    for kx in 0..k {
                        let x = x0 + kx as isize;
                        if x < 0 || x >= w {
                            continue;
                        }
                        let pixel = (b * img.height + y as usize) * img.width + x as usize;
                        f(row, ky * k + kx, pixel);
                    }
                }
            }
        }
    }
}

/// Adds `bias` (one value per column) to every row of `y`. Backward: `y`'s gradient is the
/// output's (moved, not copied), the bias's is the sum of each column of it.
pub fn add_bias<E: Dtype, T: Tape<E, Cpu>>(
    y: T2<E, T>,
    bias: Tensor<(usize,), E, Cpu, T>,
) -> T2<E, T> {
    let (y, tape_y) = y.split_tape();
    let (bias, tape_b) = bias.split_tape();
    let mut tape = tape_y.merge(tape_b);
    let (rows, cols) = *y.shape();
    let mut out = values(&y);
    let b = values(&bias);
    for row in out.chunks_exact_mut(cols.max(1)) {
        for (v, &b) in row.iter_mut().zip(&b) {
            *v += b;
        }
    }
    let out = y.device().tensor_from_vec(out, (rows, cols));
    let (y_ghost, b_ghost, out_ghost) = (y.ghost(), bias.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = take_grad!(grads, &out_ghost);
        let mut sums = vec![E::default(); cols];
        for row in g_out.chunks_exact(cols.max(1)) {
            for (s, &g) in sums.iter_mut().zip(row) {
                *s += g;
            }
        }
        for (g, s) in grads.get_or_alloc_mut(&b_ghost)?.iter_mut().zip(sums) {
            *g += s;
        }
        let g_y = grads.get_or_alloc_mut(&y_ghost)?;
        for (g, o) in g_y.iter_mut().zip(g_out) {
            *g += o;
        }
        Ok(())
    });
    out.put_tape(tape)
}

/// How a pooling window is summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value (its gradient goes to that one pixel).
    Max,
    /// The mean (its gradient is shared equally).
    Average,
}

/// Pools non-overlapping `size × size` windows of `x` (`[b*h*w, c]`) into
/// `[b*(h/size)*(w/size), c]`; rows and columns that do not fill a window are dropped.
pub fn pool<E: Dtype, T: Tape<E, Cpu>>(
    x: T2<E, T>,
    img: Image,
    size: usize,
    kind: PoolKind,
) -> T2<E, T> {
    let (x, mut tape) = x.split_tape();
    let data = values(&x);
    let (oh, ow, c) = (img.height / size, img.width / size, img.channels);
    let (in_len, out_len) = (img.height * img.width * c, oh * ow * c);
    let mut out = vec![E::default(); img.batch * out_len];
    // For max pooling, the index within its image of the input that won each output value.
    let mut winners = vec![0u32; if kind == PoolKind::Max { out.len() } else { 0 }];
    let scale = E::from_f64(1.0 / (size * size) as f64).unwrap_or_default();
    let images = out
        .par_chunks_mut(out_len.max(1))
        .zip(data.par_chunks(in_len.max(1)));
    match kind {
        PoolKind::Max => {
            images
                .zip(winners.par_chunks_mut(out_len.max(1)))
                .for_each(|((out, data), won)| {
                    for_each_pool_tap(img, size, |row, pixel, first| {
                        let (o, src, w) = (
                            &mut out[row * c..(row + 1) * c],
                            &data[pixel * c..(pixel + 1) * c],
                            &mut won[row * c..(row + 1) * c],
                        );
                        for ch in 0..c {
                            if first || src[ch] > o[ch] {
                                o[ch] = src[ch];
                                w[ch] = (pixel * c + ch) as u32;
                            }
                        }
                    })
                })
        }
        PoolKind::Average => images.for_each(|(out, data)| {
            for_each_pool_tap(img, size, |row, pixel, _| {
                for (o, &v) in out[row * c..(row + 1) * c]
                    .iter_mut()
                    .zip(&data[pixel * c..(pixel + 1) * c])
                {
                    *o += v * scale;
                }
            })
        }),
    }
    let out = x.device().tensor_from_vec(out, (img.batch * oh * ow, c));
    let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = take_grad!(grads, &out_ghost);
        let g_x = grads.get_or_alloc_mut(&x_ghost)?;
        let images = g_x
            .par_chunks_mut(in_len.max(1))
            .zip(g_out.par_chunks(out_len.max(1)));
        match kind {
            PoolKind::Max => {
                images
                    .zip(winners.par_chunks(out_len.max(1)))
                    .for_each(|((g_x, g_out), won)| {
                        for (&from, &g) in won.iter().zip(g_out) {
                            g_x[from as usize] += g;
                        }
                    })
            }
            PoolKind::Average => images.for_each(|(g_x, g_out)| {
                for_each_pool_tap(img, size, |row, pixel, _| {
                    for (g, &o) in g_x[pixel * c..(pixel + 1) * c]
                        .iter_mut()
                        .zip(&g_out[row * c..(row + 1) * c])
                    {
                        *g += o * scale;
                    }
                })
            }),
        }
        Ok(())
    });
    out.put_tape(tape)
}

/// Calls `f(output_row, input_pixel, is_first_tap)` (within one image) for every pixel of every
/// pooling window.
fn for_each_pool_tap(img: Image, size: usize, mut f: impl FnMut(usize, usize, bool)) {
    let (oh, ow) = (img.height / size, img.width / size);
    for oy in 0..oh {
        for ox in 0..ow {
            let row = oy * ow + ox;
            for dy in 0..size {
                for dx in 0..size {
                    let pixel = (oy * size + dy) * img.width + ox * size + dx;
                    f(row, pixel, dy == 0 && dx == 0);
                }
            }
        }
    }
}

/// A depthwise convolution: each channel of `x` (`[b*h*w, c]`) convolved with its own
/// `k × k` kernel (`weights`: `[k*k, c]`), giving `[b*oh*ow, c]`. Gradients flow to `x` and to
/// `weights`.
pub fn depthwise<E: Dtype, T: Tape<E, Cpu>>(
    x: T2<E, T>,
    weights: T2<E, T>,
    img: Image,
    win: Window,
) -> T2<E, T> {
    let (x, tape_x) = x.split_tape();
    let (weights, tape_w) = weights.split_tape();
    let mut tape = tape_x.merge(tape_w);
    let (xs, ws) = (values(&x), values(&weights));
    let c = img.channels;
    let rows = img.batch * win.out_height * win.out_width;
    let mut out = vec![E::default(); rows * c];
    for_each_tap(img, win, |row, tap, pixel| {
        for ch in 0..c {
            out[row * c + ch] += xs[pixel * c + ch] * ws[tap * c + ch];
        }
    });
    let out = x.device().tensor_from_vec(out, (rows, c));
    let (x_ghost, w_ghost, out_ghost) = (x.ghost(), weights.ghost(), out.ghost());
    tape.add_backward_op(move |grads| {
        let g_out: Vec<E> = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
        let mut g_w = vec![E::default(); ws.len()];
        {
            let g_x = grads.get_or_alloc_mut(&x_ghost)?;
            for_each_tap(img, win, |row, tap, pixel| {
                for ch in 0..c {
                    let g = g_out[row * c + ch];
                    g_x[pixel * c + ch] += g * ws[tap * c + ch];
                    g_w[tap * c + ch] += g * xs[pixel * c + ch];
                }
            });
        }
        let g_weights = grads.get_or_alloc_mut(&w_ghost)?;
        for (dst, src) in g_weights.iter_mut().zip(g_w) {
            *dst += src;
        }
        Ok(())
    });
    out.put_tape(tape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(b: usize, h: usize, w: usize, c: usize) -> Image {
        Image {
            batch: b,
            height: h,
            width: w,
            channels: c,
        }
    }

    #[test]
    fn im2col_of_a_3x3_image_with_a_2x2_kernel() {
        let dev: Cpu = Default::default();
        let x: T2<f32, NoneTape> = dev.tensor_from_vec((1..=9).map(|v| v as f32).collect(), (9, 1));
        let win = Window {
            kernel: 2,
            stride: 1,
            pad_top: 0,
            pad_left: 0,
            out_height: 2,
            out_width: 2,
        };
        let cols = im2col(x, image(1, 3, 3, 1), win, true).as_vec();
        assert_eq!(
            cols,
            vec![1., 2., 4., 5., 2., 3., 5., 6., 4., 5., 7., 8., 5., 6., 8., 9.]
        );
    }

    #[test]
    fn same_padding_puts_zeros_around() {
        let dev: Cpu = Default::default();
        let x: T2<f32, NoneTape> = dev.tensor_from_vec(vec![1., 2., 3., 4.], (4, 1));
        let win = Window {
            kernel: 3,
            stride: 1,
            pad_top: 1,
            pad_left: 1,
            out_height: 2,
            out_width: 2,
        };
        let cols = im2col(x, image(1, 2, 2, 1), win, true).as_vec();
        // The top-left output's patch: zeros above and left, then the image.
        assert_eq!(&cols[..9], &[0., 0., 0., 0., 1., 2., 0., 3., 4.]);
    }

    #[test]
    fn pools_pick_max_and_mean_and_drop_the_odd_edge() {
        let dev: Cpu = Default::default();
        let data: Vec<f32> = vec![1., 5., 2., 3., 0., 4., 9., 9., 9.];
        let x: T2<f32, NoneTape> = dev.tensor_from_vec(data.clone(), (9, 1));
        assert_eq!(
            pool(x, image(1, 3, 3, 1), 2, PoolKind::Max).as_vec(),
            vec![5.]
        );
        let x: T2<f32, NoneTape> = dev.tensor_from_vec(data, (9, 1));
        assert_eq!(
            pool(x, image(1, 3, 3, 1), 2, PoolKind::Average).as_vec(),
            vec![2.25]
        );
    }
}
