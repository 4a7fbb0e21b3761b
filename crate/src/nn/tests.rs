//! Finite-difference gradient checks (f64) for every layer, and training sanity checks.

use super::*;
use crate::rng::Rng;
use dfdx::losses::cross_entropy_with_logits_loss;

/// The network's weights as f64 tensors.
fn params_f64(net: &Network, dev: &Cpu) -> Vec<Option<Params<f64>>> {
    net.params
        .iter()
        .map(|p| {
            p.as_ref().map(|p| {
                let w: Vec<f64> = p.weight.as_vec().iter().map(|&v| v as f64).collect();
                let b: Vec<f64> = p.bias.as_vec().iter().map(|&v| v as f64 + 0.01).collect();
                Params {
                    weight: dev.tensor_from_vec(w, *p.weight.shape()),
                    bias: dev.tensor_from_vec(b, *p.bias.shape()),
                }
            })
        })
        .collect()
}

fn loss_of(
    net: &Network,
    params: &[Option<Params<f64>>],
    x: &[f64],
    targets: &[f64],
    batch: usize,
    dev: &Cpu,
) -> f64 {
    let input = to_input(dev, x, net.input);
    let logits =
        forward::<f64, NoneTape>(&net.layers, params, net.input, input, batch, false, true);
    let t = dev.tensor_from_vec(targets.to_vec(), (batch, net.outputs()));
    cross_entropy_with_logits_loss(logits, t).array()
}

/// Compares dfdx's gradients (through our ops) with central differences, for the input and for
/// every weight and bias.
fn gradient_check(input: Shape, layers: Vec<Layer>) {
    let net = Network::new(input, layers.clone(), 3).unwrap();
    let dev = Cpu::seed_from_u64(0);
    let batch = 2;
    let mut rng = Rng::new(5);
    let x: Vec<f64> = (0..batch * input.len())
        .map(|_| rng.normal(0.0, 1.0))
        .collect();
    let classes = net.outputs();
    let mut targets = vec![0.0; batch * classes];
    for b in 0..batch {
        targets[b * classes + (b * 3) % classes] = 1.0;
    }
    let params = params_f64(&net, &dev);

    let x_t = to_input(&dev, &x, net.input);
    let x_ghost = x_t.clone();
    let logits = forward(
        &net.layers,
        &params,
        net.input,
        x_t.leaky_traced(),
        batch,
        false,
        true,
    );
    let t = dev.tensor_from_vec(targets.clone(), (batch, classes));
    let grads = cross_entropy_with_logits_loss(logits, t).backward();

    let eps = 1e-6;
    let close = |analytic: f64, numeric: f64, what: &str| {
        let tol = 1e-6 + 1e-4 * numeric.abs().max(analytic.abs());
        assert!(
            (analytic - numeric).abs() <= tol,
            "{layers:?}: {what}: analytic {analytic} vs numeric {numeric}"
        );
    };
    let g_x = grads.get(&x_ghost).as_vec();
    for i in (0..x.len()).step_by((x.len() / 40).max(1)) {
        let (mut plus, mut minus) = (x.clone(), x.clone());
        plus[i] += eps;
        minus[i] -= eps;
        let numeric = (loss_of(&net, &params, &plus, &targets, batch, &dev)
            - loss_of(&net, &params, &minus, &targets, batch, &dev))
            / (2.0 * eps);
        close(g_x[i], numeric, &format!("input {i}"));
    }
    for (layer, p) in params.iter().enumerate() {
        let Some(p) = p else { continue };
        for which in ["weight", "bias"] {
            let (values, analytic) = match which {
                "weight" => (p.weight.as_vec(), grads.get(&p.weight).as_vec()),
                _ => (p.bias.as_vec(), grads.get(&p.bias).as_vec()),
            };
            for i in (0..values.len()).step_by((values.len() / 25).max(1)) {
                let shifted = |delta: f64| {
                    let mut ps = params.clone();
                    let q = ps[layer].as_mut().unwrap();
                    let mut v = values.clone();
                    v[i] += delta;
                    match which {
                        "weight" => q.weight = dev.tensor_from_vec(v, *p.weight.shape()),
                        _ => q.bias = dev.tensor_from_vec(v, *p.bias.shape()),
                    }
                    loss_of(&net, &ps, &x, &targets, batch, &dev)
                };
                let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                close(analytic[i], numeric, &format!("layer {layer} {which} {i}"));
            }
        }
    }
}

fn img(h: usize, w: usize, c: usize) -> Shape {
    Shape::Image {
        height: h,
        width: w,
        channels: c,
    }
}

#[test]
fn gradient_dense_relu() {
    gradient_check(
        Shape::Flat(7),
        vec![
            Layer::Dense { units: 5 },
            Layer::Relu,
            Layer::Dense { units: 3 },
        ],
    );
}

#[test]
fn gradient_dense_relu6() {
    gradient_check(
        Shape::Flat(6),
        vec![
            Layer::Dense { units: 5 },
            Layer::Relu6,
            Layer::Dense { units: 3 },
        ],
    );
}

#[test]
fn gradient_conv_valid_and_max_pool() {
    gradient_check(
        img(6, 6, 2),
        vec![
            Layer::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: Padding::Valid,
            },
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            Layer::Flatten,
            Layer::Dense { units: 4 },
        ],
    );
}

#[test]
fn gradient_conv_same_stride_two_and_avg_pool() {
    gradient_check(
        img(7, 5, 2),
        vec![
            Layer::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
            },
            Layer::AvgPool { size: 2 },
            Layer::Flatten,
            Layer::Dense { units: 3 },
        ],
    );
}

#[test]
fn gradient_depthwise_conv() {
    gradient_check(
        img(5, 6, 3),
        vec![
            Layer::DepthwiseConv2d {
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
            },
            Layer::Relu,
            Layer::Flatten,
            Layer::Dense { units: 3 },
        ],
    );
    gradient_check(
        img(6, 6, 2),
        vec![
            Layer::DepthwiseConv2d {
                kernel: 3,
                stride: 2,
                padding: Padding::Valid,
            },
            Layer::Flatten,
            Layer::Dense { units: 2 },
        ],
    );
}

#[test]
fn bad_layer_stacks_are_explained() {
    let e = Network::new(
        Shape::Flat(4),
        vec![Layer::Conv2d {
            filters: 2,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
        }],
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("layer 1") && e.contains("Flatten"), "{e}");
    let e = Network::new(
        img(2, 2, 1),
        vec![Layer::Conv2d {
            filters: 2,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
        }],
        0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not fit"), "{e}");
    for bad in [
        Network::new(img(4, 4, 1), vec![Layer::Dense { units: 2 }], 0),
        Network::new(Shape::Flat(4), vec![Layer::Dropout { rate: 1.0 }], 0),
    ] {
        assert!(
            matches!(bad, Err(crate::error::Error::Network(_))),
            "{bad:?}"
        );
    }
}

/// Two well-separated blobs: any working training loop learns them.
fn blobs(n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 2;
        x.push(rng.normal(if c == 0 { -1.0 } else { 1.0 }, 0.5) as f32);
        x.push(rng.normal(0.0, 1.0) as f32);
        y.push(c);
    }
    (x, y)
}

#[test]
fn training_learns_and_same_seed_gives_same_weights() {
    let (x, y) = blobs(400, 1);
    let layers = vec![
        Layer::Dense { units: 8 },
        Layer::Relu,
        Layer::Dropout { rate: 0.1 },
        Layer::Dense { units: 2 },
    ];
    let train = |seed| {
        let mut net = Network::new(Shape::Flat(2), layers.clone(), seed).unwrap();
        let history = TrainParams::new()
            .epochs(20)
            .seed(seed)
            .progress(false)
            .fit(&mut net, &x, &y, Some((&x, &y)))
            .unwrap();
        (net.weights(), history)
    };
    let (w1, h1) = train(4);
    let (w2, _) = train(4);
    let (w3, _) = train(5);
    assert_eq!(w1, w2, "same seed, same weights");
    assert_ne!(w1, w3);
    let last = h1.epochs.last().unwrap();
    assert!(last.val_accuracy.unwrap() > 0.9, "{last:?}");
    assert!(h1.epochs[0].loss > last.loss);
}

/// A small network with every kind of training layer the kit's models use.
fn conv_net(seed: u64) -> Network {
    let layers = vec![
        Layer::Conv2d {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
        },
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dropout { rate: 0.2 },
        Layer::Dense { units: 3 },
    ];
    Network::new(img(6, 5, 1), layers, seed).unwrap()
}

#[test]
fn half_batches_give_the_whole_batch_gradient() {
    // One SGD step (learning rate 1) on a batch of 5, which training splits into 2 + 3: the
    // change of the weights is the gradient of the mean loss over all 5.
    let mut net = conv_net(2);
    net.layers[4] = Layer::Dropout { rate: 0.0 };
    let mut rng = Rng::new(9);
    let x: Vec<f32> = (0..5 * 30).map(|_| rng.normal(0.0, 1.0) as f32).collect();
    let y = vec![0, 2, 1, 1, 0];
    let before = net.weights();

    let input = to_input(&net.dev, &x, net.input).leaky_traced();
    let logits = forward(&net.layers, &net.params, net.input, input, 5, true, false);
    let mut targets = vec![0f32; 15];
    for (i, &l) in y.iter().enumerate() {
        targets[i * 3 + l] = 1.0;
    }
    let targets = net.dev.tensor_from_vec(targets, (5, 3));
    let grads = cross_entropy_with_logits_loss(logits, targets).backward();
    let whole: Vec<Vec<f32>> = net
        .params
        .iter()
        .flatten()
        .flat_map(|p| [grads.get(&p.weight).as_vec(), grads.get(&p.bias).as_vec()])
        .collect();

    TrainParams::new()
        .epochs(1)
        .batch_size(5)
        .optimizer(Optimizer::Sgd)
        .learning_rate(1.0)
        .progress(false)
        .fit(&mut net, &x, &y, None)
        .unwrap();
    for ((b, a), g) in before.iter().zip(net.weights()).zip(&whole) {
        for ((b, a), g) in b.iter().zip(&a).zip(g) {
            assert!(
                (b - a - g).abs() <= 1e-6 + 1e-4 * g.abs(),
                "{b} - {a} vs {g}"
            );
        }
    }
}

#[test]
fn training_does_not_depend_on_the_thread_count() {
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..64 * 30).map(|_| rng.normal(0.0, 1.0) as f32).collect();
    let y: Vec<usize> = (0..64).map(|i| i % 3).collect();
    let train = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = conv_net(1);
            TrainParams::new()
                .epochs(3)
                .batch_size(8)
                .seed(6)
                .progress(false)
                .fit(&mut net, &x, &y, None)
                .unwrap();
            net.weights()
        })
    };
    let one = train(1);
    assert_eq!(one, train(2));
    assert_eq!(one, train(3));
}

#[test]
fn sgd_and_early_stopping_keep_the_best_epoch() {
    let (x, y) = blobs(200, 2);
    let mut net = Network::new(Shape::Flat(2), vec![Layer::Dense { units: 2 }], 1).unwrap();
    let h = TrainParams::new()
        .epochs(30)
        .optimizer(Optimizer::Sgd)
        .learning_rate(0.5)
        .early_stopping(2)
        .progress(false)
        .fit(&mut net, &x, &y, Some((&x, &y)))
        .unwrap();
    assert!(h.epochs.len() <= 30);
    let best = h
        .epochs
        .iter()
        .map(|e| e.val_accuracy.unwrap())
        .fold(0.0, f64::max);
    let kept = h.epochs[h.kept_epoch - 1].val_accuracy.unwrap();
    assert_eq!(kept, best);
    assert!(
        (super::train::accuracy(&net, &x, &y).unwrap() - best).abs() < 1e-12,
        "the kept weights are the best epoch's"
    );
}

#[test]
fn bad_training_input_is_refused() {
    let mut net = Network::new(Shape::Flat(2), vec![Layer::Dense { units: 2 }], 1).unwrap();
    let p = TrainParams::new().progress(false);
    assert!(p
        .fit(&mut net, &[0.0; 3], &[0, 1], None)
        .unwrap_err()
        .to_string()
        .contains("input values"));
    assert!(p
        .fit(&mut net, &[0.0; 4], &[0, 2], None)
        .unwrap_err()
        .to_string()
        .contains("label 2"));
    assert!(p
        .clone()
        .epochs(0)
        .fit(&mut net, &[0.0; 4], &[0, 1], None)
        .is_err());
}

#[test]
fn a_network_split_and_joined_again_gives_the_same_outputs() {
    let input = Shape::Image {
        height: 8,
        width: 6,
        channels: 1,
    };
    let layers = vec![
        Layer::Conv2d {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
        },
        Layer::Relu,
        Layer::MaxPool { size: 2 },
        Layer::Flatten,
        Layer::Dense { units: 5 },
        Layer::Relu,
        Layer::Dense { units: 3 },
    ];
    let net = Network::new(input, layers, 3).unwrap();
    let x: Vec<f32> = (0..2 * 48)
        .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
        .collect();
    for at in 1..net.layers().len() {
        let (a, b) = net.split_at(at).unwrap();
        assert_eq!(a.layers().len() + b.layers().len(), net.layers().len());
        let middle = a.logits(&x).unwrap();
        assert_eq!(
            b.logits(&middle).unwrap(),
            net.logits(&x).unwrap(),
            "cut at {at}"
        );
        let joined = a.then(&b).unwrap();
        assert_eq!(joined.layers(), net.layers(), "cut at {at}");
        assert_eq!(joined.weights(), net.weights());
    }
    assert!(net.split_at(0).is_err() && net.split_at(7).is_err());
    // A head on the flat output of an image: flattened in between.
    let (convs, _) = net.split_at(3).unwrap();
    let head = Network::new(Shape::Flat(48), vec![Layer::Dense { units: 2 }], 1).unwrap();
    let joined = convs.then(&head).unwrap();
    assert_eq!(joined.layers()[3], Layer::Flatten);
    assert_eq!(joined.outputs(), 2);
    let wrong = Network::new(Shape::Flat(7), vec![Layer::Dense { units: 2 }], 1).unwrap();
    let e = convs.then(&wrong).unwrap_err().to_string();
    assert!(e.contains("takes 7 but the first gives 4×3×4"), "{e}");
}
