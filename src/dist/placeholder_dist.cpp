// placeholder until the dist layer lands
