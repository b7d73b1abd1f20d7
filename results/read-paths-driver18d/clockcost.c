// Cost per read of CLOCK_MONOTONIC (vDSO), LFENCE;RDTSC, RDTSC and RDTSCP, back to back (gcc -O2).
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>
static uint64_t mono(void){struct timespec ts; clock_gettime(CLOCK_MONOTONIC,&ts); return (uint64_t)ts.tv_sec*1000000000ull+ts.tv_nsec;}
static inline uint64_t tsc_ordered(void){ _mm_lfence(); return __rdtsc(); }
static inline uint64_t tsc_plain(void){ return __rdtsc(); }
static inline uint64_t tscp(void){ unsigned a; return __rdtscp(&a); }
int main(){
  const int N=10000000;
  for(int rep=0;rep<5;rep++){
    volatile uint64_t sink=0; uint64_t t0,t1;
    t0=mono(); for(int i=0;i<N;i++) sink+=mono(); t1=mono(); double m=(double)(t1-t0)/N;
    t0=mono(); for(int i=0;i<N;i++) sink+=tsc_ordered(); t1=mono(); double a=(double)(t1-t0)/N;
    t0=mono(); for(int i=0;i<N;i++) sink+=tsc_plain(); t1=mono(); double b=(double)(t1-t0)/N;
    t0=mono(); for(int i=0;i<N;i++) sink+=tscp(); t1=mono(); double c=(double)(t1-t0)/N;
    printf("clock_gettime %.2f ns  lfence+rdtsc %.2f ns  rdtsc %.2f ns  rdtscp %.2f ns\n",m,a,b,c);
  }
}
