#include "trainer/loss_options.h"

namespace lica::trainer {

LossOptions loss_options(const run::Config& cfg) {
  const auto& l = cfg.loss.lica;
  LossOptions o;
  o.contrastive_form = cfg.loss.contrastive.form;
  o.contrastive_tile = cfg.loss.contrastive.tile_cols;
  o.lica_weight = l.weight;
  o.lica.tau_intra = l.tau_intra;
  o.lica.top_k = l.top_k;
  o.lica.min_affinity = l.min_affinity;
  o.lica.divergence = loss::parse_divergence(l.divergence);
  o.lica.form = loss::parse_lica_form(l.form);
  o.lica.tile_cols = l.tile_cols;
  o.source = parse_affinity_source(l.source);
  o.itc = {cfg.loss.itc.weight, cfg.loss.itc.temperature};
  o.ims = {cfg.loss.ims.weight, cfg.loss.ims.temperature};
  o.lmim = {cfg.loss.lmim.weight, cfg.loss.lmim.temperature};
  o.itm_weight = cfg.loss.itm_weight;
  o.precision = model::parse_precision(cfg.trainer.precision);
  o.micro_batch = cfg.trainer.micro_batch;
  return o;
}

}  // namespace lica::trainer
