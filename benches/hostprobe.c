/*
 * hostprobe: two figures of the machine a benchmark ran on, to read
 * kubesim's wall times beside (results/BENCHMARKS.md, thirty-sixth pass).
 *
 *   gcc -O2 -o hostprobe benches/hostprobe.c
 *   taskset -c 0 ./hostprobe 16
 *
 * - "load": the mean time of one load that depends on the one before,
 *   chasing a random cyclic permutation over N MiB (the argument, 16 by
 *   default): the latency of a cache miss at that working-set size;
 * - "chain": the time of 10^9 steps of a dependent multiply-add chain (a
 *   linear congruential generator), which touches no memory: it follows
 *   the core's clock alone.
 *
 * kubesim's model thread chases pointers over a heap of tens of MiB, so
 * its speed follows both.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    size_t n = ((size_t)(argc > 1 ? atol(argv[1]) : 16) << 20) / 8;
    uint64_t *order = malloc(n * 8), *next = malloc(n * 8);
    if (!order || !next) return 1;
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint64_t s = 1;
    for (size_t i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (s >> 16) % (i + 1);
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++) next[order[i]] = order[(i + 1) % n];
    const size_t steps = 20000000;
    uint64_t p = 0;
    double t0 = seconds();
    for (size_t i = 0; i < steps; i++) p = next[p];
    double load = (seconds() - t0) * 1e9 / steps;

    volatile uint64_t sink = 0;
    uint64_t x = 1;
    t0 = seconds();
    for (uint64_t i = 0; i < 1000000000ULL; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        sink += x >> 60;
    }
    double chain = seconds() - t0;
    printf("load %.1f ns at %zu MiB, chain %.3f s (%llu)\n", load, n * 8 >> 20, chain,
           (unsigned long long)(p + sink));
    return 0;
}
