#include "model/dual_encoder.h"

#include <cmath>

namespace lica::model {

DualEncoderImpl::DualEncoderImpl(const DualEncoderOptions& opt) : embed_dim_(opt.video.embed_dim) {
  video_ = register_module("video", VideoEncoder(opt.video));
  text_ = register_module("text", TextEncoder(opt.text));
  logit_scale_ = register_parameter("logit_scale",
                                    torch::tensor(std::log(1.0 / opt.init_temperature)));
}

void DualEncoderImpl::clamp_logit_scale() {
  torch::NoGradGuard no_grad;
  logit_scale_.clamp_(0.0, max_logit_scale());
}

}  // namespace lica::model
