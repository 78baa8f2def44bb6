// The C library's allocator set to keep the memory a training step frees, for the next step.
//
// A step on the CPU allocates and frees the same large activations every time (12 MB each
// for the MLP of a B = 256 batch). glibc serves such blocks with mmap and hands them back on
// free (or trims its heap top past 128 KB to 32 MB), so every step faults its activations in
// again, page by page, zeroed by the kernel: 24,000 page faults a step at B = 256 in
// train_bench, a tenth of the step's time (docs/performance.md). With mmap off and the trim
// threshold out of reach, freed blocks stay in the heap and are reused as they are; the
// process's resident memory stays at its peak, which a training process reaches in its
// first step anyway. One malloc arena for all threads, so that blocks the loader thread
// allocates and the training thread frees stay in that heap as well.
#pragma once

namespace lica {

// Call once, first thing in main() of a program that trains (train_bench, lica_dist_train).
// Returns false where the C library is not glibc (nothing changed).
bool keep_freed_cpu_memory();

}  // namespace lica
