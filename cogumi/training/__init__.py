"""Training the new LoRA: the losses (``losses``, one registry), the learned logit scale
(``logit_scale``) and TRL's trainer subclassed for the loss (``trainer``). This package's own
module imports no torch: the config layer reads the loss names here."""

# Each ``train.loss`` and what it trains, in words (the train stage prints it).
LOSS_NAMES = {
    "scaled": "temperature-scaled SFT",
    "teacher": "distilled from Phase 1A at each tau",
    "decoupled": "plain SFT, sharpened by the logit scale alone",
    "sharpness": "plain SFT, sharpened per hidden dimension of the final norm (creative writing: to Phase 1A at tau)",
}
