// The update after the gradients: clipping by the global norm and AdamW, each as a few
// multi-tensor operations instead of LibTorch's loop over parameters (issue 17: at B = 1024 on
// the H200 that loop took 3.1 ms of a 15 ms step, eager PyTorch's foreach AdamW 1.4 ms), with
// LibTorch's arithmetic in LibTorch's order, so the parameters after a step are the same bit
// for bit on the CPU (tests/trainer/test_optimizer_step.cpp). Neither reads a value back to
// the host, so a CUDA step can run ahead of the device.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace lica::trainer {

// Scales every defined gradient by min(1, max_norm / (‖g‖₂ + 1e-6)), ‖g‖₂ the norm of all of
// them together: torch::nn::utils::clip_grad_norm_ without its read-back of the norm.
void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// optimizer.step() of LibTorch's AdamW (decoupled weight decay, bias-corrected moments), on the
// optimizer's own state, so checkpoints are unchanged. Each parameter group is updated with
// ATen's _foreach_ operations when every parameter of the optimizer has a gradient and a
// state at the same step and amsgrad is off; otherwise (the first step, which creates the
// state) it is optimizer.step() itself.
void adamw_step(torch::optim::AdamW& optimizer);

}  // namespace lica::trainer
