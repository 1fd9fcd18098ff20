/work/main/agent/sas.o: sas.c crypto.h
crypto.h:
