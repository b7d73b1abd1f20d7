// CPU cost of the driver's two pacing loops at a fixed rate, isolated from everything else:
// "spin" = the old Pacing.sleep (nanosleep to 120 us before the deadline, then re-read the clock in a loop),
// "sleep" = the new one (one nanosleep for the whole remaining time, re-read after waking).
// Usage: pacing-cpu spin|sleep RATE SECONDS   (run under /usr/bin/time -v; prints lateness too)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t nanos) {
    struct timespec request = {(time_t)(nanos / 1000000000ull), (long)(nanos % 1000000000ull)};
    nanosleep(&request, NULL);
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s spin|sleep RATE SECONDS\n", argv[0]); return 2; }
    int spin = strcmp(argv[1], "spin") == 0;
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    const uint64_t spin_margin = 120000;
    uint64_t tick = (uint64_t)(1e9 / rate), start = now_ns(), ops = (uint64_t)(rate * seconds);
    uint64_t late_sum = 0, late_max = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t deadline = start + i * tick, now = now_ns();
        while (now < deadline) {
            uint64_t remaining = deadline - now;
            if (spin) {
                if (remaining > spin_margin + 20000) sleep_ns(remaining - spin_margin);
            } else {
                sleep_ns(remaining);
            }
            now = now_ns();
        }
        uint64_t late = now - deadline;
        late_sum += late;
        if (late > late_max) late_max = late;
    }
    printf("%s: %llu ops at %.0f/s, mean lateness %.1f us, max %.1f us\n", argv[1], (unsigned long long)ops, rate,
           late_sum / 1000.0 / ops, late_max / 1000.0);
    return 0;
}
