/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny test harness for the host unit tests.
 *
 *	TEST(name) { CHECK(x == 1); CHECK_EQ(a, b); CHECK_MEM(p, q, n); }
 *	int main(int argc, char **argv)
 *	{
 *		check_init(argc, argv);
 *		RUN(name);
 *		return check_summary();
 *	}
 *
 * Every TEST is one case: it passes if none of its checks failed. The last
 * line a program prints is "<prog>: N passed, N failed" (cases), which the
 * Makefile adds up. CHECK* evaluate to the truth of the check, so a loop can
 * stop at its first failure: if (!CHECK(...)) return;
 *
 * check_rand() is a deterministic PRNG (splitmix64). The seed is printed at
 * start and can be set with SEALINE_TEST_SEED=<n> to reproduce a run.
 */
#ifndef SEALINE_TEST_CHECK_H
#define SEALINE_TEST_CHECK_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_MAX_REPORTS	8	/* failure messages printed per case */

static const char *check_prog = "test";
static const char *check_case = "?";
static unsigned long check_case_failures;
static unsigned int check_cases_passed, check_cases_failed;
static uint64_t check_seed = 0x5ea11e5eedULL;
static uint64_t check_rng_state;

static inline void check_vreport(const char *file, int line,
				 const char *fmt, va_list ap)
{
	check_case_failures++;
	if (check_case_failures > CHECK_MAX_REPORTS)
		return;
	fprintf(stdout, "  %s:%d: %s: ", file, line, check_case);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	if (check_case_failures == CHECK_MAX_REPORTS)
		fprintf(stdout, "  (further failures in %s not shown)\n",
			check_case);
}

static inline int check_report(int ok, const char *file, int line,
			       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int check_report(int ok, const char *file, int line,
			       const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return 1;
	va_start(ap, fmt);
	check_vreport(file, line, fmt, ap);
	va_end(ap);
	return 0;
}

#define CHECK(c) \
	check_report(!!(c), __FILE__, __LINE__, "check failed: %s", #c)

/* CHECK with a printf-style explanation (context: seed, length, index). */
#define CHECKF(c, ...) \
	check_report(!!(c), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_EQ(a, b) ({						\
	unsigned long long a_ = (unsigned long long)(a);		\
	unsigned long long b_ = (unsigned long long)(b);		\
	check_report(a_ == b_, __FILE__, __LINE__,			\
		     "check failed: %s == %s (0x%llx != 0x%llx)",	\
		     #a, #b, a_, b_);					\
})

#define CHECK_MEM(a, b, n) ({						\
	size_t n_ = (n);						\
	check_report(!memcmp((a), (b), n_), __FILE__, __LINE__,	\
		     "check failed: %s[0..%zu) == %s", #a, n_, #b);	\
})

/* Has the running case failed so far? For long loops to stop early. */
static inline int check_failing(void)
{
	return check_case_failures != 0;
}

static inline uint64_t check_rand(void)
{
	uint64_t z = (check_rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for test purposes; n > 0. */
static inline uint64_t check_below(uint64_t n)
{
	return check_rand() % n;
}

static inline void check_fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)check_rand();
}

static inline void check_init(int argc, char **argv)
{
	const char *s = getenv("SEALINE_TEST_SEED");
	const char *slash;

	if (argc > 0 && argv[0]) {
		slash = strrchr(argv[0], '/');
		check_prog = slash ? slash + 1 : argv[0];
	}
	if (s && *s)
		check_seed = strtoull(s, NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%s: seed %" PRIu64 "\n", check_prog, check_seed);
}

/* Each case starts from its own seed, so cases do not perturb each other. */
static inline void check_run(const char *name, void (*fn)(void))
{
	check_case = name;
	check_case_failures = 0;
	check_rng_state = check_seed;
	for (const char *p = name; *p; p++)
		check_rng_state = check_rng_state * 31 + (unsigned char)*p;
	fn();
	if (check_case_failures) {
		check_cases_failed++;
		printf("FAIL %s (%lu failed checks)\n", name,
		       check_case_failures);
	} else {
		check_cases_passed++;
		printf("ok   %s\n", name);
	}
}

#define TEST(name)	static void name(void)
#define RUN(name)	check_run(#name, name)

static inline int check_summary(void)
{
	printf("%s: %u passed, %u failed\n", check_prog, check_cases_passed,
	       check_cases_failed);
	return check_cases_failed ? 1 : 0;
}

#endif /* SEALINE_TEST_CHECK_H */
