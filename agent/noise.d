/work/main/agent/noise.o: noise.c crypto.h noise.h
crypto.h:
noise.h:
