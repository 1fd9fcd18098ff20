/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The courier's envelopes: files and directories packed into a pax
 * archive, compressed with zstd, sealed end to end for one recipient
 * account and authenticated as from the sender, in authenticated chunks
 * (Documentation/courier.rst has every byte layout and the reasons).
 *
 *	header		153 bytes: magic and version, envelope id (clear);
 *			a one-way Noise_Xpsk1 message from the sender's
 *			static key to the recipient's, the pair's LTK as PSK
 *	chunk 0..n-1	ChaCha20-Poly1305 of 64 KiB of payload each (the
 *			last one 0..64 KiB), nonce = chunk index || last flag
 *
 * This is an engine with no I/O of its own: it reads and writes the file
 * descriptors its caller gives it (the envelope, the staging and inbox
 * directories) and the files the sender names. No daemon state, no
 * logging, no threads.
 *
 * Layers, each usable alone (the daemon's transfer protocol needs the
 * lower ones to resume at a chunk boundary):
 *
 *	sl_env_header_seal/open		the header and the payload key
 *	sl_env_chunk_seal/open		one chunk
 *	sl_env_writer_*, sl_env_reader_*	a payload byte stream <-> an
 *					envelope on a file descriptor
 *	sl_env_seal			files -> pax -> zstd -> envelope
 *	sl_env_unpack, sl_env_commit	envelope -> staging directory ->
 *					inbox, refusing anything unsafe
 *
 * Conventions: sl_crypto_init() (agent/crypto.h) must have succeeded.
 * Private keys and LTKs are the caller's, in secure memory; every secret
 * made here (ephemeral key, chaining key, payload key) lives in secure
 * memory and is wiped on every path out. The recipient's functions return
 * an enum sl_env_reason (SL_ENV_OK or why the envelope is refused) and
 * fill a struct sl_env_refusal; the sender's return 0 or a negative errno
 * with an explanation.
 */
#ifndef SEALINE_COURIER_ENVELOPE_H
#define SEALINE_COURIER_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Formats (version 1) ------------------------------------------- */

#define SL_ENV_MAGIC		"SEALENV"	/* 7 bytes, then the version */
#define SL_ENV_MAGIC_LEN	7
#define SL_ENV_VERSION		1
#define SL_ENV_ID_LEN		16
#define SL_ENV_ACCOUNT_LEN	12	/* SL_ACCOUNT_LEN of agent/config.h */
#define SL_ENV_KEY_LEN		32	/* X25519 keys, LTK, payload key */
#define SL_ENV_TAG_LEN		16
#define SL_ENV_HASH_LEN		32	/* SHA-256 */

/* Clear part: magic, version, envelope id. It is the Noise prologue. */
#define SL_ENV_CLEAR_LEN	(SL_ENV_MAGIC_LEN + 1 + SL_ENV_ID_LEN)
/* Sealed header payload: sender account, recipient account, created
 * (int64 big-endian Unix seconds), content type. */
#define SL_ENV_INNER_LEN	(2 * SL_ENV_ACCOUNT_LEN + 8 + 1)
/* Noise message: e, encrypted s, encrypted payload. */
#define SL_ENV_NOISE_LEN	(SL_ENV_KEY_LEN + \
				 SL_ENV_KEY_LEN + SL_ENV_TAG_LEN + \
				 SL_ENV_INNER_LEN + SL_ENV_TAG_LEN)
#define SL_ENV_HEADER_LEN	(SL_ENV_CLEAR_LEN + SL_ENV_NOISE_LEN)

/* Content type 1: a zstd stream of a pax archive. */
#define SL_ENV_CONTENT_PAX_ZSTD	1

#define SL_ENV_CHUNK_LEN	65536	/* payload bytes per chunk */
#define SL_ENV_CHUNK_WIRE_LEN	(SL_ENV_CHUNK_LEN + SL_ENV_TAG_LEN)

/* zstd: levels the sender may use, and the window both sides allow. The
 * receiver refuses a frame that needs a larger window, so a sender cannot
 * make it allocate more than 2^23 bytes (8 MiB) for decompression. */
#define SL_ENV_ZSTD_LEVEL_DEFAULT	3
#define SL_ENV_ZSTD_LEVEL_MAX		19
#define SL_ENV_ZSTD_WINDOW_LOG_MAX	23

/* Names inside an envelope. */
#define SL_ENV_PATH_MAX		1024	/* bytes of a whole relative path */
#define SL_ENV_NAME_MAX		255	/* bytes of one component */
#define SL_ENV_DEPTH_MAX	64	/* components of a path */

/* Byte offset of chunk i in an envelope. */
static inline uint64_t sl_env_chunk_offset(uint64_t i)
{
	return SL_ENV_HEADER_LEN + i * (uint64_t)SL_ENV_CHUNK_WIRE_LEN;
}

/* Size of an envelope whose payload (the zstd stream) is n bytes. */
static inline uint64_t sl_env_wire_size(uint64_t n)
{
	uint64_t chunks = n ? (n + SL_ENV_CHUNK_LEN - 1) / SL_ENV_CHUNK_LEN : 1;

	return SL_ENV_HEADER_LEN + n + chunks * SL_ENV_TAG_LEN;
}

/* ---- Refusals -------------------------------------------------------- */

/*
 * Why a recipient refuses an envelope. The numbers are stable: they travel
 * back to the sender. Names and texts: sl_env_reason_name(), _text().
 */
enum sl_env_reason {
	SL_ENV_OK = 0,
	SL_ENV_BAD_FORMAT = 1,		/* not an envelope: magic, length */
	SL_ENV_BAD_VERSION = 2,		/* an envelope version we do not read */
	SL_ENV_NOT_FOR_US = 3,		/* does not open with our key */
	SL_ENV_UNKNOWN_SENDER = 4,	/* sender's key not a stored peer */
	SL_ENV_NOT_AUTHORISED = 5,	/* sender revoked or not authorised */
	SL_ENV_WRONG_RECIPIENT = 6,	/* addressed to another account */
	SL_ENV_DAMAGED = 7,		/* a header or chunk fails
					 * authentication: changed, reordered,
					 * from another envelope */
	SL_ENV_TRUNCATED = 8,		/* ends before its last chunk */
	SL_ENV_TRAILING = 9,		/* bytes after the last chunk */
	SL_ENV_REPLAY = 10,		/* already delivered */
	SL_ENV_TOO_BIG = 11,		/* over the envelope size limit */
	SL_ENV_TOO_MANY_FILES = 12,
	SL_ENV_BOMB = 13,		/* decompression ratio over the limit */
	SL_ENV_UNPACKED_TOO_BIG = 14,	/* unpacked size over the limit */
	SL_ENV_NO_SPACE = 15,		/* not enough free disk space */
	SL_ENV_BAD_ARCHIVE = 16,	/* malformed compression or archive */
	SL_ENV_UNSAFE_PATH = 17,	/* absolute, "..", ".", empty, too long */
	SL_ENV_SYMLINK_OUTSIDE = 18,	/* symlink leaves the envelope */
	SL_ENV_HARDLINK_OUTSIDE = 19,	/* hard link to no file of it */
	SL_ENV_SPECIAL_FILE = 20,	/* device, FIFO, socket */
	SL_ENV_DUPLICATE = 21,		/* a name twice */
	SL_ENV_IO = 22,			/* local failure writing the files */
	SL_ENV_INTERNAL = 23,		/* local failure: memory, libraries */
	SL_ENV_QUOTA = 24,		/* a TSP holds the sender's quota
					 * (store-and-forward.rst) */
	SL_ENV_REASON_COUNT
};

#define SL_ENV_DETAIL_LEN	240

struct sl_env_refusal {
	enum sl_env_reason reason;
	/* What exactly, for people: a chunk number, an entry name (escaped:
	 * printable ASCII, anything else as \xNN), a limit. NUL-terminated. */
	char detail[SL_ENV_DETAIL_LEN];
};

/* "PATH_TRAVERSAL"-style name of a reason, "?" if out of range. */
const char *sl_env_reason_name(enum sl_env_reason reason);
/* One sentence for people, "?" if out of range. */
const char *sl_env_reason_text(enum sl_env_reason reason);
/*
 * Whether the sender may try the same envelope again later: a local
 * failure or lack of space at the recipient, or bytes lost in transit
 * (DAMAGED, TRUNCATED, TRAILING). Every other refusal repeats itself.
 */
bool sl_env_reason_retryable(enum sl_env_reason reason);

/* ---- Keys ------------------------------------------------------------ */

/* This installation: its account and static X25519 key pair. */
struct sl_env_self {
	char account[SL_ENV_ACCOUNT_LEN + 1];
	const uint8_t *priv;		/* secure memory, SL_ENV_KEY_LEN */
	uint8_t pub[SL_ENV_KEY_LEN];
};

/* A paired peer, as the key store has it. */
struct sl_env_peer {
	char account[SL_ENV_ACCOUNT_LEN + 1];
	uint8_t pub[SL_ENV_KEY_LEN];	/* its static X25519 key */
	const uint8_t *ltk;		/* secure memory, SL_ENV_KEY_LEN */
	bool allowed;			/* authorised and not revoked */
};

/*
 * The recipient's look-up of the sender by static key: fill *peer and
 * return 0, or return -ENOENT for a key that is no stored peer. peer->ltk
 * need only stay valid until the function that called it returns.
 */
typedef int (*sl_env_find_peer_fn)(void *ctx, const uint8_t pub[SL_ENV_KEY_LEN],
				   struct sl_env_peer *peer);

/* ---- Header ---------------------------------------------------------- */

/* What the sender puts in a header. */
struct sl_env_header_in {
	uint8_t id[SL_ENV_ID_LEN];
	int64_t created;			/* Unix seconds */
	const uint8_t *ephemeral;	/* NULL: a fresh key (tests only) */
};

/* What an authenticated header says, and the payload key. */
struct sl_env_opened {
	uint8_t id[SL_ENV_ID_LEN];
	char sender[SL_ENV_ACCOUNT_LEN + 1];
	uint8_t sender_pub[SL_ENV_KEY_LEN];
	char recipient[SL_ENV_ACCOUNT_LEN + 1];
	int64_t created;
	uint8_t content;
	uint8_t *key;			/* secure memory; sl_env_opened_wipe() */
};

/*
 * The sender's header for one envelope to peer `to` (whose pub and ltk
 * must be set), and the payload key into *key (secure memory, allocated
 * here; sl_secure_free(*key, SL_ENV_KEY_LEN) it). 0 or a negative errno.
 */
int sl_env_header_seal(uint8_t out[SL_ENV_HEADER_LEN], uint8_t **key,
		       const struct sl_env_self *me,
		       const struct sl_env_peer *to,
		       const struct sl_env_header_in *in);

/*
 * The recipient's check of a header: magic and version, our static key
 * (NOT_FOR_US), the sender's key among our peers (UNKNOWN_SENDER,
 * NOT_AUTHORISED), authentication under both static keys and the LTK
 * (DAMAGED), the accounts inside (WRONG_RECIPIENT: ours; UNKNOWN_SENDER:
 * the peer's). On success *out holds the payload key.
 */
enum sl_env_reason sl_env_header_open(struct sl_env_opened *out,
				      const uint8_t *in, size_t len,
				      const struct sl_env_self *me,
				      sl_env_find_peer_fn find_peer, void *ctx,
				      struct sl_env_refusal *why);

void sl_env_opened_wipe(struct sl_env_opened *o);

/* ---- Chunks ---------------------------------------------------------- */

/*
 * Chunk i: out receives len + SL_ENV_TAG_LEN bytes. len is at most
 * SL_ENV_CHUNK_LEN; only the last chunk may be shorter, and only chunk 0
 * (the only one then) may be empty.
 */
int sl_env_chunk_seal(uint8_t *out, const uint8_t key[SL_ENV_KEY_LEN],
		      uint64_t i, bool last, const uint8_t *in, size_t len);

/*
 * Opens chunk i of len bytes (tag included) into out (len - tag bytes);
 * *last tells whether it is the envelope's last chunk (a full chunk is
 * tried as a middle chunk first, then as the last, as in age's STREAM).
 * -EBADMSG if it does not authenticate as chunk i (out is then wiped),
 * -EINVAL for a length no chunk has.
 */
int sl_env_chunk_open(uint8_t *out, const uint8_t key[SL_ENV_KEY_LEN],
		      uint64_t i, const uint8_t *in, size_t len, bool *last);

/* ---- Streams --------------------------------------------------------- */

struct sl_env_writer;
struct sl_env_reader;

/*
 * A sender's stream: the header (to peer `to`) written to fd at once, then
 * payload bytes in any pieces, sealed and written a chunk at a time.
 * Holds one chunk of plaintext, never more. Writes loop over short writes
 * and EINTR. finish() seals the last chunk and reports the envelope's
 * size, chunk count and SHA-256; free() wipes everything (also after a
 * failure; the caller then discards what was written).
 */
int sl_env_writer_new(struct sl_env_writer **w, int fd,
		      const struct sl_env_self *me,
		      const struct sl_env_peer *to,
		      const struct sl_env_header_in *in);
int sl_env_writer_write(struct sl_env_writer *w, const void *buf, size_t len);
int sl_env_writer_finish(struct sl_env_writer *w, uint64_t *bytes,
			 uint64_t *chunks, uint8_t sha256[SL_ENV_HASH_LEN]);
void sl_env_writer_free(struct sl_env_writer *w);

/*
 * A recipient's stream: reads and opens the header from fd (see
 * sl_env_header_open), then hands out authenticated payload bytes only:
 * a chunk's bytes are released after its tag verified, and end of stream
 * (0 from read) only after the last chunk verified and nothing follows it.
 * max_bytes (0: no limit) bounds the envelope's size (TOO_BIG). After a
 * refusal every later call repeats it.
 */
enum sl_env_reason sl_env_reader_new(struct sl_env_reader **r, int fd,
				     uint64_t max_bytes,
				     const struct sl_env_self *me,
				     sl_env_find_peer_fn find_peer, void *ctx,
				     struct sl_env_refusal *why);
/* The refusal that stopped the reader (reason SL_ENV_OK: none). */
const struct sl_env_refusal *sl_env_reader_why(const struct sl_env_reader *r);
/* The authenticated header (valid until free). */
const struct sl_env_opened *sl_env_reader_header(const struct sl_env_reader *r);
/*
 * Up to len payload bytes into buf; *got 0 means the whole envelope
 * verified. A refusal leaves *got 0.
 */
enum sl_env_reason sl_env_reader_read(struct sl_env_reader *r, void *buf,
				      size_t len, size_t *got);
/*
 * A pointer to the next authenticated payload bytes, without copying:
 * *ptr, *got (0 at the end), valid until the next call.
 */
enum sl_env_reason sl_env_reader_next(struct sl_env_reader *r,
				      const uint8_t **ptr, size_t *got);
/* After the end: the envelope's size, chunk count and SHA-256. */
void sl_env_reader_totals(const struct sl_env_reader *r, uint64_t *bytes,
			  uint64_t *chunks, uint8_t sha256[SL_ENV_HASH_LEN]);
void sl_env_reader_free(struct sl_env_reader *r);

/* ---- Sender: files to an envelope ------------------------------------ */

struct sl_env_seal_opts {
	int level;			/* zstd level 1..19; 0: the default */
	const uint8_t *id;		/* NULL: random (tests set it) */
	int64_t created;		/* 0: now */
	const uint8_t *ephemeral;	/* NULL: fresh (tests only) */
};

struct sl_env_sealed {
	uint8_t id[SL_ENV_ID_LEN];
	uint8_t sha256[SL_ENV_HASH_LEN];	/* of the whole envelope */
	uint64_t bytes;			/* envelope size */
	uint64_t chunks;
	uint64_t files;			/* entries: files, dirs, symlinks */
	uint64_t content_bytes;		/* sum of the regular files' sizes */
	int64_t created;
};

/*
 * Packs paths (files, directories with everything under them, symbolic
 * links inside them) into an envelope to peer `to`, written to out_fd.
 * Each path becomes a top-level entry named by its last component;
 * directories are walked in name order. A symbolic link named in paths is
 * followed; one inside a directory is stored as a link if its target is
 * relative and stays inside that top-level entry, and refused otherwise
 * (the recipient would refuse it). Devices, FIFOs and sockets are refused.
 * Stored per entry: name, type, permission bits (0777), size, mtime
 * (seconds), link target; no owner, no other times.
 *
 * 0 or a negative errno with a sentence in why. On failure out_fd holds a
 * partial envelope, which the caller deletes.
 */
int sl_env_seal(int out_fd, const struct sl_env_self *me,
		const struct sl_env_peer *to, const char *const *paths,
		size_t n_paths, const struct sl_env_seal_opts *opts,
		struct sl_env_sealed *out, char *why, size_t why_len);

/*
 * The packing alone: paths -> pax -> zstd, the payload of an envelope,
 * handed to out->write in pieces, and each archive entry to out->entry
 * (may be NULL) as it is written. The same rules as sl_env_seal(); level
 * 0 is the default. 0 or a negative errno (the first one a callback
 * returned, or the packer's) with a sentence in why. This is what an
 * unprivileged packer runs (sealctl send): it needs no key; the daemon
 * seals the payload (sl_env_writer_*) without reading a file.
 */
enum sl_env_entry_type {
	SL_ENV_ENTRY_FILE = 'f',
	SL_ENV_ENTRY_DIR = 'd',
	SL_ENV_ENTRY_LINK = 'l',
};

struct sl_env_entry {
	const char *name;		/* as in the archive: relative */
	enum sl_env_entry_type type;
	uint32_t mode;			/* permission bits */
	uint64_t size;			/* regular files */
	int64_t mtime;
	const char *target;		/* links */
};

struct sl_env_pack_out {
	int (*write)(void *ctx, const void *buf, size_t len);
	int (*entry)(void *ctx, const struct sl_env_entry *e);
	void *ctx;
};

int sl_env_pack(const char *const *paths, size_t n_paths, int level,
		const struct sl_env_pack_out *out, uint64_t *files,
		uint64_t *content_bytes, char *why, size_t why_len);

/*
 * sl_env_pack() onto the pipe of a "send" request to sealined (ipc.h
 * says its records): the 'D' and 'F' records, then 'E' with the counts,
 * or 'X' with the reason packing failed. 0, or -errno with why set.
 */
int sl_env_pack_pipe(int fd, const char *const *paths, size_t n_paths,
		     int level, uint64_t *files, uint64_t *content_bytes,
		     char *why, size_t why_len);

/* ---- Recipient: an envelope to the inbox ----------------------------- */

struct sl_env_limits {
	uint64_t max_envelope_bytes;	/* TOO_BIG */
	uint64_t max_unpacked_bytes;	/* UNPACKED_TOO_BIG: the archive
					 * stream and the files' sizes */
	uint64_t max_files;		/* TOO_MANY_FILES: entries */
	uint32_t max_ratio;		/* BOMB: unpacked : compressed ... */
	uint64_t ratio_floor;		/* ... once over this many bytes */
	uint64_t min_free_bytes;	/* NO_SPACE: keep free on the
					 * staging file system */
};

/* The defaults (Documentation/courier.rst, "Limits"). */
void sl_env_limits_default(struct sl_env_limits *lim);

/*
 * The recipient's replay check: true if an envelope with this id was
 * delivered before (the daemon's receive log). May be NULL.
 */
typedef bool (*sl_env_delivered_fn)(void *ctx, const uint8_t id[SL_ENV_ID_LEN]);

struct sl_env_receive {
	const struct sl_env_self *me;
	sl_env_find_peer_fn find_peer;
	sl_env_delivered_fn delivered;
	void *ctx;			/* for both callbacks */
	struct sl_env_limits limits;
};

struct sl_env_received {
	uint8_t id[SL_ENV_ID_LEN];
	char sender[SL_ENV_ACCOUNT_LEN + 1];
	uint8_t sender_pub[SL_ENV_KEY_LEN];
	char recipient[SL_ENV_ACCOUNT_LEN + 1];
	int64_t created;
	uint8_t sha256[SL_ENV_HASH_LEN];	/* of the whole envelope */
	uint64_t bytes;
	uint64_t chunks;
	uint64_t files;
	uint64_t content_bytes;
	char name[2 * SL_ENV_ID_LEN + 1];	/* directory: the id in hex */
};

/*
 * Reads the envelope from env_fd (from its current position, to its end),
 * verifies it chunk by chunk and extracts it into a new directory
 * staging_fd/<id in hex> (mode 0700; a leftover of that name is removed
 * first). Only authenticated bytes reach the decompressor and the
 * archive parser. Files are created under that directory only, never
 * through a symbolic link, never over an existing name; the limits are
 * checked as bytes arrive. On success everything is written and synced
 * and *out describes it; on a refusal the directory and all it held are
 * removed and *why says what and where.
 */
enum sl_env_reason sl_env_unpack(int env_fd, int staging_fd,
				 const struct sl_env_receive *rx,
				 struct sl_env_received *out,
				 struct sl_env_refusal *why);

/*
 * Moves staging_fd/<name> to inbox_fd/<name> atomically (the two on one
 * file system) and syncs both directories: the files appear in the inbox
 * complete or not at all. REPLAY if the inbox already has that envelope
 * (the staging copy is then removed), IO on another failure.
 */
enum sl_env_reason sl_env_commit(int staging_fd, int inbox_fd,
				 const struct sl_env_received *r,
				 struct sl_env_refusal *why);

/* Removes staging_fd/<name> and everything in it. 0 or a negative errno. */
int sl_env_discard(int staging_fd, const char *name);

#endif
