// Per-piece costs of the driver's per-operation work, in ns, on this machine: throughput (independent
// calls, as the out-of-order core can overlap them) and latency (each call's input depends on the previous result).
#include <stdio.h>
#include <stdint.h>
#include <math.h>
#include <time.h>
#include <x86intrin.h>
static uint64_t mono(void){struct timespec ts; clock_gettime(CLOCK_MONOTONIC,&ts); return (uint64_t)ts.tv_sec*1000000000ull+ts.tv_nsec;}
static inline uint64_t tsc_ordered(void){ _mm_lfence(); return __rdtsc(); }
static const uint64_t anchor=12345, scale=1717986918ull; // ~0.4 ns/tick in 32.32
static inline uint64_t tscns(uint64_t t){ uint64_t d=t>anchor?t-anchor:0; unsigned __int128 p=(unsigned __int128)d*scale; return 1000+(uint64_t)(p>>32); }
static inline uint64_t fnv(uint64_t v){ uint64_t h=0xCBF29CE484222325ull; for(int i=0;i<8;i++){ h^=v&0xff; h*=1099511628211ull; v>>=8;} int64_t s=(int64_t)h; return s<0?-s:s; }
static inline uint64_t eight(uint64_t value){ uint64_t high=value/10000; uint64_t halves=high|(value-high*10000)<<32; uint64_t hundreds=((halves*10486)>>20)&0x0000007F0000007Full; uint64_t pairs=hundreds|(halves-hundreds*100)<<16; uint64_t tens=((pairs*103)>>10)&0x000F000F000F000Full; uint64_t ones=pairs-tens*10; return (tens|ones<<8)+0x3030303030303030ull; }
static inline uint64_t digits_serial(uint64_t v){ uint64_t u=v/100000000, lo=v%100000000; uint64_t hi=u/100000000, mid=u%100000000; return eight(lo)^eight(mid)^hi; }
static inline uint64_t digits_parallel(uint64_t v){ uint64_t u=v/100000000, hi=v/10000000000000000ull; uint64_t lo=v-u*100000000, mid=u-hi*100000000; return eight(lo)^eight(mid)^hi; }
#define N 20000000
#define BENCH(name, expr_indep, expr_dep) do { \
  uint64_t acc=1, sink=0, t0=mono(); for(uint64_t i=0;i<N;i++){ sink+= (expr_indep); } uint64_t t1=mono(); \
  for(uint64_t i=0;i<N;i++){ acc = (expr_dep); } uint64_t t2=mono(); \
  printf("%-22s throughput %6.2f ns  latency %6.2f ns  (%llu %llu)\n", name, (double)(t1-t0)/N, (double)(t2-t1)/N, (unsigned long long)sink&1, (unsigned long long)acc&1); } while(0)
int main(){
  for(int rep=0;rep<3;rep++){
    BENCH("clock_gettime", mono(), mono()+acc);
    BENCH("lfence+rdtsc+scale", tscns(tsc_ordered()), tscns(tsc_ordered()+(acc&1)));
    BENCH("rdtsc+scale", tscns(__rdtsc()), tscns(__rdtsc()+(acc&1)));
    BENCH("fnv1a64", fnv(i), fnv(acc+i));
    BENCH("digits serial /1e8,/1e8", digits_serial(i*0x9E3779B97F4A7C15ull>>1), digits_serial((acc^i)|(1ull<<62)));
    BENCH("digits parallel", digits_parallel(i*0x9E3779B97F4A7C15ull>>1), digits_parallel((acc^i)|(1ull<<62)));
    volatile double base=0.0; 
    BENCH("pow(x,99.999)", (uint64_t)(pow(base+0.5+0.0005*(double)(i%1000), 99.99999999999991)*1e6), (uint64_t)(pow(base+0.5+0.0005*(double)((acc+i)%1000), 99.99999999999991)*1e6));
    printf("\n");
  }
}
