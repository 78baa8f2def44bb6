#include "trainer/step.h"

#include "dist/all_gather.h"
#include "trainer/losses.h"

namespace lica::trainer {

torch::Tensor step_loss_share(model::DualEncoder& model, dist::Communicator& comm,
                              const data::Batch& local, int64_t offset) {
  auto video = model->encode_video(local.video, local.video_mask);  // [b, D]
  auto text = model->encode_text(local.text, local.text_mask);      // [b, D]
  auto all_video = dist::all_gather_with_grad(comm, video);         // [B, D]
  auto all_text = dist::all_gather_with_grad(comm, text);           // [B, D]
  return infonce_loss(video, text, all_video, all_text, model->scale(), offset);
}

}  // namespace lica::trainer
