#!/bin/sh
# Download the pretrained CIFAR-10 ResNets into an assets root and check their sha256.
#   sh scripts/fetch_weights.sh /mnt/coe-assets   (then COE_ASSETS=/mnt/coe-assets)
# Source: github.com/akamaster/pytorch_resnet_cifar10 (BSD-2-Clause), pretrained_models/.
# The checksums are those of the files the project is tested with.
set -eu
DEST="${1:?usage: fetch_weights.sh ASSETS_ROOT}"
BASE="${COE_WEIGHTS_URL:-https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models}"
DIR="$DEST/models/resnet-cifar10"
mkdir -p "$DIR"
while read -r sha file; do
  if [ -f "$DIR/$file" ] && echo "$sha  $DIR/$file" | sha256sum -c --quiet - 2>/dev/null; then
    echo "ok (cached) $file"; continue
  fi
  curl -fsSL --retry 3 -o "$DIR/$file.part" "$BASE/$file"
  echo "$sha  $DIR/$file.part" | sha256sum -c --quiet -
  mv "$DIR/$file.part" "$DIR/$file"
  echo "ok $file"
done <<'LIST'
12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8 resnet20-12fca82f.th
d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850 resnet32-d509ac18.th
014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4 resnet44-014dd654.th
4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367 resnet56-4bfd9763.th
LIST
