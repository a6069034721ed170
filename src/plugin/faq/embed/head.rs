//! The classifier head of the semantic score: a softmax (multinomial
//! logistic) regression over sentence vectors, trained when the knowledge
//! base is embedded.
//!
//! Its classes are the entries plus one "none" class. Each entry's examples
//! are its questions and its answer; the none class learns from a few dozen
//! lines of ordinary group chatter shipped with qunbot (`background_*.txt`),
//! so that in a small knowledge base a message about nothing in it is not
//! shared out among the entries. The centre cosine says how near a message
//! is to an entry; the head says which entry it is nearest to *among the
//! others*, which is what separates entries whose questions look alike
//! (banking77: 0.77 → 0.82 top-1 with all-MiniLM-L6-v2).
//!
//! Training minimises the mean cross-entropy plus an L2 penalty of
//! `1 / (C · n)` on the weights (not the biases), with L-BFGS to
//! convergence: deterministic, and a second or two for a knowledge base of
//! a thousand texts.

/// The inverse regularisation strength (scikit-learn's `C`): the best of
/// 5–100 on the even-numbered dev queries of clinc150 and banking77 with
/// all-MiniLM-L6-v2 (see `calibration`).
pub(crate) const C: f32 = 20.0;

/// L-BFGS stops when no gradient component exceeds this.
const GTOL: f64 = 1e-5;
/// At most this many L-BFGS iterations.
const MAX_ITERATIONS: usize = 300;
/// Correction pairs L-BFGS keeps.
const MEMORY: usize = 10;

use std::collections::VecDeque;

/// Ordinary English group chatter: the none class's examples.
pub(crate) const BACKGROUND_EN: &str = include_str!("background_en.txt");
/// Ordinary Chinese group chatter, for multilingual models.
pub(crate) const BACKGROUND_ZH: &str = include_str!("background_zh.txt");

/// A trained head.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// Classes (entries, then the none class).
    classes: usize,
    /// Vector dimension.
    dim: usize,
    /// `classes × dim` weights, row by row, then `classes` biases.
    theta: Vec<f64>,
    /// L-BFGS iterations the training took.
    pub(crate) iterations: usize,
}

impl Head {
    /// Train on `samples` (class, vector) for `classes` classes; every
    /// vector has length `dim`.
    pub(crate) fn train(samples: &[(usize, &[f32])], classes: usize, dim: usize) -> Self {
        let mut head = Self {
            classes,
            dim,
            theta: vec![0.0; classes * dim + classes],
            iterations: 0,
        };
        if classes < 2 || samples.is_empty() {
            return head;
        }
        // In f64: near the optimum, f32 gradients are too coarse for L-BFGS's
        // curvature pairs, and it crawls.
        let samples: Vec<(usize, Vec<f64>)> = samples
            .iter()
            .map(|(c, x)| (*c, x.iter().map(|v| f64::from(*v)).collect()))
            .collect();
        let lambda = 1.0 / (f64::from(C) * samples.len() as f64);
        let objective =
            |theta: &[f64], grad: &mut [f64]| loss_and_gradient(theta, grad, &samples, classes, dim, lambda);
        head.iterations = lbfgs(&mut head.theta, objective);
        head
    }

    /// The vector dimension it was trained on.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// The probability of each class for the vector `x`.
    pub(crate) fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let x: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
        let mut z = logits(&self.theta, &x, self.classes, self.dim);
        softmax(&mut z);
        z.into_iter().map(|p| p as f32).collect()
    }
}

/// The logits of `x` under `theta`.
fn logits(theta: &[f64], x: &[f64], classes: usize, dim: usize) -> Vec<f64> {
    let (weights, bias) = theta.split_at(classes * dim);
    weights
        .chunks_exact(dim)
        .zip(bias)
        .map(|(w, b)| dot64(w, x) + b)
        .collect()
}

/// Turn logits into probabilities in place.
fn softmax(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

/// Mean cross-entropy plus `lambda / 2 · |weights|²`, and its gradient
/// into `grad`.
fn loss_and_gradient(
    theta: &[f64],
    grad: &mut [f64],
    samples: &[(usize, Vec<f64>)],
    classes: usize,
    dim: usize,
    lambda: f64,
) -> f64 {
    grad.fill(0.0);
    let n = samples.len() as f64;
    let mut loss = 0.0;
    for (class, x) in samples {
        let mut p = logits(theta, x, classes, dim);
        softmax(&mut p);
        loss -= p[*class].max(1e-300).ln();
        p[*class] -= 1.0;
        let (gw, gb) = grad.split_at_mut(classes * dim);
        for ((row, b), &err) in gw.chunks_exact_mut(dim).zip(gb.iter_mut()).zip(&p) {
            let e = err / n;
            *b += e;
            axpy(e, x, row);
        }
    }
    let weights = &theta[..classes * dim];
    for (g, w) in grad.iter_mut().zip(weights) {
        *g += lambda * w;
    }
    loss / n + 0.5 * lambda * dot64(weights, weights)
}

/// Minimise `f` (value; gradient written into its second argument) from
/// `x`, in place: L-BFGS with a backtracking (Armijo) line search. Returns
/// the iterations taken.
fn lbfgs(x: &mut [f64], mut f: impl FnMut(&[f64], &mut [f64]) -> f64) -> usize {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    // Correction pairs (s, y, 1 / yᵀs), oldest first.
    let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    let mut trial = vec![0.0; n];
    let mut g_trial = vec![0.0; n];
    for iteration in 0..MAX_ITERATIONS {
        if g.iter().all(|v| v.abs() <= GTOL) {
            return iteration;
        }
        // Two-loop recursion: d = −H·g.
        let mut d: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot64(s, &d);
            axpy(-a, y, &mut d);
            alphas.push(a);
        }
        if let Some((s, y, _)) = pairs.back() {
            let gamma = dot64(s, y) / dot64(y, y);
            d.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot64(y, &d);
            axpy(a - b, s, &mut d);
        }
        let mut slope = dot64(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from the gradient.
            pairs.clear();
            d = g.iter().map(|v| -v).collect();
            slope = dot64(&g, &d);
        }
        // The first step is scaled to the gradient; later ones start at 1.
        let mut step = if pairs.is_empty() {
            1.0 / g.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1.0)
        } else {
            1.0
        };
        // Backtrack until the Armijo condition holds.
        let mut accepted = None;
        for _ in 0..40 {
            for ((t, xi), di) in trial.iter_mut().zip(x.iter()).zip(&d) {
                *t = xi + step * di;
            }
            let ft = f(&trial, &mut g_trial);
            if ft <= fx + 1e-4 * step * slope {
                accepted = Some(ft);
                break;
            }
            step *= 0.5;
        }
        let Some(ft) = accepted else {
            return iteration;
        };
        let s: Vec<f64> = trial.iter().zip(x.iter()).map(|(t, xi)| t - xi).collect();
        let y: Vec<f64> = g_trial.iter().zip(&g).map(|(a, b)| a - b).collect();
        let ys = dot64(&y, &s);
        x.copy_from_slice(&trial);
        g.copy_from_slice(&g_trial);
        let improved = fx - ft;
        fx = ft;
        if ys > 1e-16 {
            if pairs.len() == MEMORY {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / ys));
        }
        if improved <= 1e-15 * fx.abs().max(1.0) {
            return iteration + 1;
        }
    }
    MAX_ITERATIONS
}

/// `y += a · x`.
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// The dot product of `f64` vectors.
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    super::dot_in_lanes::<f64, 4>(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn lbfgs_finds_the_minimum_of_a_quadratic() {
        // f(x) = Σ (i + 1)·(x_i − i)², minimum at x_i = i.
        let mut x = vec![0.0f64; 6];
        lbfgs(&mut x, |x, g| {
            let mut f = 0.0;
            for (i, (xi, gi)) in x.iter().zip(g.iter_mut()).enumerate() {
                let w = (i + 1) as f64;
                f += w * (xi - i as f64).powi(2);
                *gi = 2.0 * w * (xi - i as f64);
            }
            f
        });
        for (i, xi) in x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-4, "{x:?}");
        }
    }

    #[test]
    fn the_gradient_is_the_losss_derivative() {
        let xs = [
            unit(&[1.0, 0.2, 0.0]),
            unit(&[0.1, 1.0, 0.3]),
            unit(&[0.0, 0.4, 1.0]),
        ];
        let samples: Vec<(usize, Vec<f64>)> = xs
            .iter()
            .enumerate()
            .map(|(c, x)| (c, x.iter().map(|v| f64::from(*v)).collect()))
            .collect();
        let theta: Vec<f64> = (0..12).map(|i| (f64::from(i) * 0.37).sin()).collect();
        let mut grad = vec![0.0; 12];
        let f0 = loss_and_gradient(&theta, &mut grad, &samples, 3, 3, 0.1);
        for i in 0..12 {
            // Central differences.
            let mut scratch = vec![0.0; 12];
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[i] += 1e-5;
            down[i] -= 1e-5;
            let numeric = (loss_and_gradient(&up, &mut scratch, &samples, 3, 3, 0.1)
                - loss_and_gradient(&down, &mut scratch, &samples, 3, 3, 0.1))
                / 2e-5;
            assert!(
                (numeric - grad[i]).abs() < 1e-6,
                "component {i}: {numeric} vs {}",
                grad[i]
            );
        }
        assert!(f0 > 0.0);
    }

    #[test]
    fn a_trained_head_tells_close_classes_apart() {
        // Two classes whose examples are close (cosine 0.9), a third far off.
        let a = [unit(&[1.0, 0.45, 0.0, 0.1]), unit(&[1.0, 0.35, 0.1, 0.0])];
        let b = [unit(&[0.45, 1.0, 0.0, 0.1]), unit(&[0.35, 1.0, 0.0, 0.0])];
        let none = [unit(&[0.0, 0.0, 1.0, 0.2]), unit(&[0.1, 0.0, 1.0, 0.0])];
        let mut samples: Vec<(usize, &[f32])> = Vec::new();
        for (class, set) in [(0, &a), (1, &b), (2, &none)] {
            for x in set.iter() {
                samples.push((class, x.as_slice()));
            }
        }
        let head = Head::train(&samples, 3, 4);
        let p = head.probabilities(&unit(&[1.0, 0.5, 0.0, 0.0]));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{p:?}");
        assert!(p[0] > 0.6 && p[0] > 2.0 * p[1], "nearer a than b: {p:?}");
        let p = head.probabilities(&unit(&[0.0, 0.1, 1.0, 0.1]));
        assert!(p[2] > 0.6, "chatter goes to the none class: {p:?}");
        // Deterministic: the same samples give the same head.
        assert_eq!(Head::train(&samples, 3, 4).theta, head.theta);
    }

    #[test]
    fn one_class_or_no_samples_leave_the_head_uniform() {
        let x = unit(&[1.0, 0.0]);
        let head = Head::train(&[(0, x.as_slice())], 1, 2);
        assert_eq!(head.probabilities(&x), vec![1.0]);
        let head = Head::train(&[], 3, 2);
        let p = head.probabilities(&x);
        assert!(p.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6), "{p:?}");
    }
}
