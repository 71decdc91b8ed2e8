"""Tolerances shared by tests that compare two fp32 engines on the same network, with their reasons.

They must hold on every x86-64 CPU: the fp32 kernels differ between CPUs (AVX2, AVX-512, AMX code
paths block and order their sums differently), so a bound measured on one machine is no bound.

U^2-NetP sigmoid maps, Keras/TensorFlow against onnxruntime (or two ONNX graphs of it):
  The network has 119 convolutions in depth-first U-blocks; each output sums up to 9 x 128 products,
  and the two engines sum them in different orders (onnxruntime's ONNX also has BatchNorm folded into
  the convolutions, which ours applies separately). Each layer therefore differs by a few ulps
  (relative ~1e-7) and the differences compound through the depth. Measured, max |difference| of the
  sigmoid maps over the 18 real photos of the U-2-Net demo set: 8.3e-5 to 8.4e-5 on AMD EPYC Zen 4
  (TF_ENABLE_ONEDNN_OPTS 0 and 1, 1 and 2 intra-op threads: all four within 1.2e-6 of each other),
  1.85e-4 on an Intel Xeon with AMX (issue 10). Logits differ by up to 1.2e-3 where |logit| reaches 19.
  The mean |difference| is 5.0e-7 on all four AMD settings: rounding noise is unbiased and sparse.
"""

from __future__ import annotations

#: Max |difference| of two fp32 engines' sigmoid maps. 1e-3 is under a quarter of one 8-bit level
#: (1/255 = 3.9e-3), so masks saved as 8-bit images agree to one level, and 5x the largest
#: difference measured on any CPU (1.85e-4, Intel AMX), 12x AMD's (8.4e-5).
FP32_ENGINES_MAX_ABS = 1e-3

#: Mean |difference| of the same maps. Rounding noise averages out (5.0e-7 measured, AMD; a CPU
#: whose kernels round 2.2x more, as Intel's max suggests, gives ~1.1e-6); a real defect (a wrong
#: padding, weight layout, epsilon or resize) shifts whole regions and the mean with them. 2e-5 is
#: 18x the worst expected noise and still tight enough to catch a defect that hides under the max bound.
FP32_ENGINES_MEAN_ABS = 2e-5
