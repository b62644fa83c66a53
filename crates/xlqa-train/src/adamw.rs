//! AdamW with state that can be saved and restored, so that a training run
//! interrupted at a checkpoint continues bit-identically (`--resume`).
//!
//! The update is the decoupled-weight-decay Adam of Loshchilov & Hutter,
//! computed exactly as `candle_nn::AdamW` computes it; candle's optimizer
//! keeps its moments private, which is why this one exists. Each variable
//! may carry a learning-rate multiplier (layer-wise learning-rate decay).

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

/// Hyper-parameters (the defaults are candle's and PyTorch's).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AdamWParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// The optimizer: variables, their first and second moments and step count.
pub struct AdamW {
    vars: Vec<Var>,
    /// Learning-rate multiplier per variable.
    scale: Vec<f64>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: usize,
    params: AdamWParams,
}

impl AdamW {
    /// A fresh optimizer; `scale[i]` multiplies the learning rate of `vars[i]`.
    pub fn new(vars: Vec<Var>, scale: Vec<f64>, params: AdamWParams) -> candle_core::Result<Self> {
        if scale.len() != vars.len() {
            candle_core::bail!("{} scales for {} variables", scale.len(), vars.len());
        }
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let m = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        let v = vars.iter().map(zeros).collect::<candle_core::Result<_>>()?;
        Ok(AdamW {
            vars,
            scale,
            m,
            v,
            step: 0,
            params,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// One update with learning rate `lr` from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        self.apply(&grads, lr)
    }

    fn apply(&mut self, grads: &GradStore, lr: f64) -> candle_core::Result<()> {
        self.step += 1;
        let p = self.params;
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let scale_m = 1.0 / (1.0 - p.beta1.powi(t));
        let scale_v = 1.0 / (1.0 - p.beta2.powi(t));
        for i in 0..self.vars.len() {
            let var = &self.vars[i];
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let lr = lr * self.scale[i];
            let m = ((&self.m[i] * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            let v = ((&self.v[i] * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let m_hat = (&m * scale_m)?;
            let v_hat = (&v * scale_v)?;
            let theta = (var.as_tensor() * (1.0 - lr * p.weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            var.set(&(theta - (adjusted * lr)?)?)?;
            // detached: gradients carry the step's graph, which the
            // moments must not keep alive into the next step
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(())
    }

    /// Writes the moments and the step count to a safetensors file.
    pub fn save(&self, path: &Path) -> candle_core::Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            map.insert(format!("m.{i}"), m.clone());
            map.insert(format!("v.{i}"), v.clone());
        }
        map.insert(
            "step".into(),
            Tensor::new(&[self.step as u32], &Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path)
    }

    /// Restores what [`AdamW::save`] wrote (same variables, same order).
    pub fn load(&mut self, path: &Path) -> candle_core::Result<()> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)?;
        let get = |k: &str| {
            map.get(k)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {k}")))
        };
        for i in 0..self.vars.len() {
            let (m, v) = (get(&format!("m.{i}"))?, get(&format!("v.{i}"))?);
            if m.dims() != self.vars[i].dims() || v.dims() != self.vars[i].dims() {
                candle_core::bail!(
                    "moment {i} has shape {:?}, expected {:?}",
                    m.dims(),
                    self.vars[i].dims()
                );
            }
            self.m[i] = m;
            self.v[i] = v;
        }
        if map.len() != 2 * self.vars.len() + 1 {
            candle_core::bail!(
                "{} tensors for {} variables (written for another model?)",
                map.len(),
                self.vars.len()
            );
        }
        self.step = get("step")?.to_vec1::<u32>()?[0] as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quadratic_steps(opt: &mut AdamW, x: &Var, n: usize) {
        for _ in 0..n {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            opt.backward_step(&loss, 0.1).unwrap();
        }
    }

    #[test]
    fn matches_candles_adamw() {
        let init = Tensor::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let b = Var::from_tensor(&init).unwrap();
        let mut ours = AdamW::new(vec![a.clone()], vec![1.0], AdamWParams::default()).unwrap();
        let mut theirs = <candle_nn::AdamW as candle_nn::Optimizer>::new(
            vec![b.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        quadratic_steps(&mut ours, &a, 5);
        for _ in 0..5 {
            let loss = b.as_tensor().sqr().unwrap().sum_all().unwrap();
            candle_nn::Optimizer::backward_step(&mut theirs, &loss).unwrap();
        }
        let (x, y) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-6, "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn save_and_load_continue_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let init = Tensor::new(&[0.5f32, -1.5], &Device::Cpu).unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let mut straight = AdamW::new(vec![a.clone()], vec![0.5], AdamWParams::default()).unwrap();
        quadratic_steps(&mut straight, &a, 6);
        let b = Var::from_tensor(&init).unwrap();
        let mut first = AdamW::new(vec![b.clone()], vec![0.5], AdamWParams::default()).unwrap();
        quadratic_steps(&mut first, &b, 3);
        let p = dir.path().join("opt.safetensors");
        first.save(&p).unwrap();
        let c = Var::from_tensor(b.as_tensor()).unwrap();
        let mut second = AdamW::new(vec![c.clone()], vec![0.5], AdamWParams::default()).unwrap();
        second.load(&p).unwrap();
        assert_eq!(second.steps(), 3);
        quadratic_steps(&mut second, &c, 3);
        assert_eq!(a.to_vec1::<f32>().unwrap(), c.to_vec1::<f32>().unwrap());
        // a file for another model is refused
        let d = Var::from_tensor(&Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let mut other = AdamW::new(vec![d], vec![1.0], AdamWParams::default()).unwrap();
        assert!(other.load(&p).is_err());
    }
}
