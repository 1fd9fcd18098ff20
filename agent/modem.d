/work/main/agent/modem.o: modem.c modem.h
modem.h:
