#include "trainer/progress_log.h"

#include <cstdio>

namespace lica::trainer {
namespace {

// " itc 1.23 lmim 4.56": the AAI terms that are on.
std::string aai_terms(const LossOptions& opt, const LossValues& v) {
  std::string out;
  char buf[64];
  const auto add = [&](const char* name, double weight, double value) {
    if (weight == 0.0) return;
    std::snprintf(buf, sizeof buf, " %s %.4f", name, value);
    out += buf;
  };
  add("itc", opt.itc.weight, v.itc);
  add("ims", opt.ims.weight, v.ims);
  add("lmim", opt.lmim.weight, v.lmim);
  add("itm", opt.itm_weight, v.itm);
  return out;
}

}  // namespace

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string progress_line(const StepReport& r, const LossOptions& opt) {
  char line[320];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld step %lld/%lld loss %.4f (nce %.4f intra_v %.4f "
                "intra_t %.4f%s) lr %.3g scale %.2f samples/s %.0f eta %s",
                static_cast<long long>(r.epoch + 1), static_cast<long long>(r.epochs),
                static_cast<long long>(r.done), static_cast<long long>(r.total_steps),
                r.loss.total, r.loss.nce, r.loss.intra_v, r.loss.intra_t,
                aai_terms(opt, r.loss).c_str(), r.lr, r.scale, r.samples_per_s,
                format_duration(r.eta_s).c_str());
  return line;
}

JsonLine train_record(const StepReport& r) {
  JsonLine line;
  line.add("type", "train")
      .add("step", r.done)
      .add("epoch", r.epoch)
      .add("loss", r.loss.total)
      .add("loss_nce", r.loss.nce)
      .add("loss_intra_v", r.loss.intra_v)
      .add("loss_intra_t", r.loss.intra_t)
      .add("loss_itc", r.loss.itc)
      .add("loss_ims", r.loss.ims)
      .add("loss_lmim", r.loss.lmim)
      .add("loss_itm", r.loss.itm)
      .add("lr", r.lr)
      .add("logit_scale", r.scale)
      .add("samples_per_s", r.samples_per_s)
      .add("step_s", r.step_s)
      .add("data_wait_s", r.data_wait_s);
  return line;
}

JsonLine eval_record(const std::string& split, int64_t step, int64_t epoch,
                     const eval::RetrievalMetrics& m) {
  JsonLine line;
  line.add("type", "eval").add("split", split).add("step", step).add("epoch", epoch);
  eval::add_metrics(line, m);
  return line;
}

}  // namespace lica::trainer
