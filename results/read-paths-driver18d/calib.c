// The TSC clock's calibration as TimestampCounterClock.calibrated does it, and its agreement with CLOCK_MONOTONIC afterwards.
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>
static uint64_t mono(void){struct timespec ts; clock_gettime(CLOCK_MONOTONIC,&ts); return (uint64_t)ts.tv_sec*1000000000ull+ts.tv_nsec;}
static uint64_t tsc(void){ _mm_lfence(); return __rdtsc(); }
typedef struct { uint64_t ns, half, ticks; } pair_t;
static pair_t pair(void){ pair_t b={0,~0ull,0}; for(int i=0;i<5;i++){ uint64_t a=mono(), t=tsc(), c=mono(); uint64_t h=(c-a+1)/2; if(h<b.half){b.ns=a+(c-a)/2;b.half=h;b.ticks=t;} } return b; }
int main(){
  for(int run=0;run<5;run++){
    pair_t p1=pair(); struct timespec r={0,20000000}; nanosleep(&r,0); pair_t p2=pair();
    double el=(double)(p2.ns-p1.ns), per=el/(double)(p2.ticks-p1.ticks); double unc=(double)(p1.half+p2.half)/el;
    uint64_t scaled=(uint64_t)(per*4294967296.0+0.5);
    double worst=0; 
    for(int k=0;k<10;k++){ struct timespec s={0,100000000}; nanosleep(&s,0); uint64_t a=mono(), t=tsc(), c=mono();
      unsigned __int128 pr=(unsigned __int128)(t-p2.ticks)*scaled; uint64_t rd=p2.ns+(uint64_t)(pr>>32); double mid=(double)a+(double)(c-a)/2; double d=(double)rd-mid; if(d<0)d=-d; if(d>worst)worst=d; }
    printf("rate %.6f GHz, anchor +-%llu ns, rate uncertainty %.2e (%.1f ppm); worst |tsc - monotonic| over the next 1 s: %.0f ns (bound %.0f ns)\n",
      1/per, (unsigned long long)p2.half, unc, unc*1e6, worst, (double)p2.half+unc*1.0e9+1);
  }
}
