// CKernels: block formats, quantization and matrix-multiply kernels in C.
#ifndef DUOGUARD_CKERNELS_H
#define DUOGUARD_CKERNELS_H

#endif
