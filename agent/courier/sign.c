// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Ed25519 with libgcrypt's EdDSA (sign.h). libgcrypt copies an
 * S-expression into secure memory only when its format string is in
 * secure memory, so the formats that carry the seed are copied there
 * first; the public key comes from libgcrypt's "q@eddsa" of a context
 * built from the seed alone.
 */
#include <errno.h>
#include <string.h>

#include <gcrypt.h>

#include "crypto.h"
#include "sign.h"

#define PRIV_FMT	"(private-key(ecc(curve Ed25519)(flags eddsa)(d %b)))"
#define SIGN_FMT	"(private-key(ecc(curve Ed25519)(flags eddsa)" \
			"(d %b)(q %b)))"

/* gcry_sexp_build with the format copied into secure memory, so that the
 * S-expression (which holds the seed) is allocated there too. */
static int build_secret(gcry_sexp_t *out, const char *fmt, const void *a,
			const void *b)
{
	size_t len = strlen(fmt) + 1;
	char *sfmt = sl_secure_alloc(len);
	gcry_error_t e;

	if (!sfmt)
		return -ENOMEM;
	memcpy(sfmt, fmt, len);
	if (b)
		e = gcry_sexp_build(out, NULL, sfmt, SL_SIGN_SEED_LEN, a,
				    SL_SIGN_PUB_LEN, b);
	else
		e = gcry_sexp_build(out, NULL, sfmt, SL_SIGN_SEED_LEN, a);
	sl_secure_free(sfmt, len);
	return e ? -EIO : 0;
}

static int public_of(uint8_t pub[SL_SIGN_PUB_LEN], const uint8_t *seed)
{
	gcry_sexp_t key = NULL;
	gcry_ctx_t ctx = NULL;
	gcry_mpi_t q = NULL;
	const void *bytes;
	unsigned int bits;
	int err;

	err = build_secret(&key, PRIV_FMT, seed, NULL);
	if (err)
		return err;
	err = -EIO;
	if (gcry_mpi_ec_new(&ctx, key, NULL))
		goto out;
	q = gcry_mpi_ec_get_mpi("q@eddsa", ctx, 1);
	bytes = q ? gcry_mpi_get_opaque(q, &bits) : NULL;
	if (bytes && bits == 8 * SL_SIGN_PUB_LEN) {
		memcpy(pub, bytes, SL_SIGN_PUB_LEN);
		err = 0;
	}
out:
	gcry_mpi_release(q);
	gcry_ctx_release(ctx);
	gcry_sexp_release(key);
	return err;
}

int sl_sign_key_from_seed(struct sl_sign_key *k,
			  const uint8_t seed[SL_SIGN_SEED_LEN])
{
	int err;

	memset(k, 0, sizeof(*k));
	k->seed = sl_secure_alloc(SL_SIGN_SEED_LEN);
	if (!k->seed)
		return -ENOMEM;
	memcpy(k->seed, seed, SL_SIGN_SEED_LEN);
	err = public_of(k->pub, k->seed);
	if (err)
		sl_sign_key_wipe(k);
	return err;
}

int sl_sign_key_derive(struct sl_sign_key *k, const uint8_t x25519_priv[32],
		       const char *account)
{
	char info[sizeof(SL_SIGN_DERIVE_LABEL) + 32];
	size_t label = strlen(SL_SIGN_DERIVE_LABEL), alen = strlen(account);
	uint8_t *seed;
	int err;

	memset(k, 0, sizeof(*k));
	if (alen > sizeof(info) - label)
		return -EINVAL;
	memcpy(info, SL_SIGN_DERIVE_LABEL, label);
	memcpy(info + label, account, alen);
	seed = sl_secure_alloc(SL_SIGN_SEED_LEN);
	if (!seed)
		return -ENOMEM;
	err = sl_hkdf(seed, SL_SIGN_SEED_LEN, NULL, 0, x25519_priv, 32, info,
		      label + alen);
	if (!err)
		err = sl_sign_key_from_seed(k, seed);
	sl_secure_free(seed, SL_SIGN_SEED_LEN);
	return err;
}

void sl_sign_key_wipe(struct sl_sign_key *k)
{
	if (!k)
		return;
	sl_secure_free(k->seed, SL_SIGN_SEED_LEN);
	memset(k, 0, sizeof(*k));
}

/* The 32 bytes of token name in sexp, or -EIO. */
static int token32(uint8_t out[32], gcry_sexp_t sexp, const char *name)
{
	gcry_sexp_t t = gcry_sexp_find_token(sexp, name, 0);
	const char *d;
	size_t n = 0;

	d = t ? gcry_sexp_nth_data(t, 1, &n) : NULL;
	if (d && n == 32)
		memcpy(out, d, 32);
	gcry_sexp_release(t);
	return d && n == 32 ? 0 : -EIO;
}

int sl_sign(uint8_t sig[SL_SIGN_SIG_LEN], const struct sl_sign_key *k,
	    const void *msg, size_t len)
{
	gcry_sexp_t key = NULL, data = NULL, s = NULL;
	int err;

	if (!k || !k->seed || (len && !msg))
		return -EINVAL;
	err = build_secret(&key, SIGN_FMT, k->seed, k->pub);
	if (err)
		return err;
	err = -EIO;
	if (gcry_sexp_build(&data, NULL,
			    "(data(flags eddsa)(hash-algo sha512)(value %b))",
			    (int)len, msg ? msg : ""))
		goto out;
	if (gcry_pk_sign(&s, data, key))
		goto out;
	err = token32(sig, s, "r");
	if (!err)
		err = token32(sig + 32, s, "s");
out:
	gcry_sexp_release(s);
	gcry_sexp_release(data);
	gcry_sexp_release(key);
	if (err)
		sl_wipe(sig, SL_SIGN_SIG_LEN);
	return err;
}

/* S < L, the group order, compared as little-endian numbers. */
static bool canonical_s(const uint8_t s[32])
{
	static const uint8_t l[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	};

	for (int i = 31; i >= 0; i--) {
		if (s[i] != l[i])
			return s[i] < l[i];
	}
	return false;
}

int sl_sign_verify(const uint8_t pub[SL_SIGN_PUB_LEN], const void *msg,
		   size_t len, const uint8_t sig[SL_SIGN_SIG_LEN])
{
	gcry_sexp_t key = NULL, data = NULL, s = NULL;
	gcry_error_t e;
	int err = -EIO;

	if (!pub || !sig || (len && !msg))
		return -EINVAL;
	if (!canonical_s(sig + 32))
		return -EBADMSG;
	if (gcry_sexp_build(&key, NULL,
			    "(public-key(ecc(curve Ed25519)(flags eddsa)(q %b)))",
			    SL_SIGN_PUB_LEN, pub) ||
	    gcry_sexp_build(&data, NULL,
			    "(data(flags eddsa)(hash-algo sha512)(value %b))",
			    (int)len, msg ? msg : "") ||
	    gcry_sexp_build(&s, NULL, "(sig-val(eddsa(r %b)(s %b)))", 32, sig,
			    32, sig + 32))
		goto out;
	e = gcry_pk_verify(s, data, key);
	/* A bad signature, or a key that is no point: both mean this key
	 * did not sign this message. */
	err = e ? -EBADMSG : 0;
out:
	gcry_sexp_release(s);
	gcry_sexp_release(data);
	gcry_sexp_release(key);
	return err;
}
