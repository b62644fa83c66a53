//! CPU kernels shared by xlqa's encoder (`xlqa-models`) and dense index
//! (`xlqa-index`): int8 matrix products with run-time instruction-set
//! dispatch, and vectorizable f32 math. No dependency on a tensor framework.

pub mod math;
pub mod qgemm;
