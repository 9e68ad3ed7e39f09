//! The compute backends. Everything the model and the training loop do goes through dfdx's
//! device-generic kernels; the few things that need host access to a device buffer (optimiser
//! state in checkpoints, OGM-GE gradient modulation) go through [`Backend`].

use dfdx::prelude::*;

/// A dfdx device balmix can train on.
pub trait Backend: Device<f32> + dfdx::tensor::TensorFromVec<usize> {
    /// Whether layers may run on the host with their own backward ops (the input layer's
    /// weight gradient, [`crate::model::layers::Linear::forward_input`]; convolution and
    /// pooling, [`crate::model::conv::ConvBlock`]); devices whose buffers are not host memory
    /// use the plain dfdx paths instead.
    const HOST_INPUT_LAYER: bool;

    /// Copy a raw buffer to the host.
    fn read(&self, v: &<Self as Storage<f32>>::Vec) -> Vec<f32>;

    /// Run `f` on a host view of a raw buffer and store the result back.
    fn edit(&self, v: &mut <Self as Storage<f32>>::Vec, f: &mut dyn FnMut(&mut [f32]));
}

impl Backend for Cpu {
    const HOST_INPUT_LAYER: bool = true;

    fn read(&self, v: &<Self as Storage<f32>>::Vec) -> Vec<f32> {
        v.to_vec()
    }

    fn edit(&self, v: &mut <Self as Storage<f32>>::Vec, f: &mut dyn FnMut(&mut [f32])) {
        f(v)
    }
}

#[cfg(feature = "cuda")]
impl Backend for Cuda {
    const HOST_INPUT_LAYER: bool = false;

    fn read(&self, v: &<Self as Storage<f32>>::Vec) -> Vec<f32> {
        v.device().dtoh_sync_copy(v).expect("device to host copy")
    }

    fn edit(&self, v: &mut <Self as Storage<f32>>::Vec, f: &mut dyn FnMut(&mut [f32])) {
        let dev = v.device();
        let mut host = dev.dtoh_sync_copy(v).expect("device to host copy");
        f(&mut host);
        dev.htod_sync_copy_into(&host, &mut **v)
            .expect("host to device copy");
    }
}

/// A CUDA device for ordinal 0, or why there is none. cudarc 0.9 panics when the driver
/// cannot initialise, so the driver and a visible GPU are checked first.
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Result<Cuda, String> {
    let listed = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GPU"))
        .unwrap_or(false);
    if !listed {
        return Err("no NVIDIA GPU is visible (`nvidia-smi -L` lists none)".into());
    }
    Cuda::try_build(0, 0).map_err(|e| format!("cannot open CUDA device 0: {e:?}"))
}
