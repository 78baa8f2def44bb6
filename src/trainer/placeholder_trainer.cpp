// placeholder until the trainer layer lands
