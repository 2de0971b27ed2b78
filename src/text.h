/* text — the one place where untrusted text is made safe to quote.
 *
 * Vendor bodies, Kafka payloads and header values end up in JSON log
 * lines, outcome events, dead-letter headers and error messages. These
 * helpers repair or cut UTF-8, escape bytes for quoting and recognise the
 * characters that can disguise text where a human reads it. None of them
 * allocates; all accept s == NULL only where n == 0. */
#ifndef ERASURE_TEXT_H
#define ERASURE_TEXT_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most avail bytes), 0 if the
 * bytes there are not one: overlong forms and surrogates are refused. */
size_t text_utf8_seq(const char *s, size_t avail);

/* Replaces in place every byte of s[0..n) that is not part of valid UTF-8
 * with '?', so the text can go into JSON (jansson refuses bad UTF-8). */
void text_fix_utf8(char *s, size_t n);

/* The largest length <= max at which s[0..len) can be cut without
 * splitting a UTF-8 character (len when it already fits). */
size_t text_utf8_cut(const char *s, size_t len, size_t max);

/* text_escape() flag: also escape '"' and '\\', for text put in quotes. */
#define TEXT_ESCAPE_QUOTES 1u

/* Room text_escape() needs for max_in input bytes: 4 per byte, "...", NUL. */
#define TEXT_ESCAPE_SIZE(max_in) ((max_in)*4 + 4)

/* Writes at most max_in bytes of src[0..len) into dst (cap bytes, always
 * NUL-terminated when cap > 0) as printable ASCII, every other byte as
 * "\xHH", so hostile text cannot forge log lines or header bytes. An
 * escape is never split; a cut is marked with "...". Returns the length
 * written. */
size_t text_escape(char *dst, size_t cap, const char *src, size_t len,
                   size_t max_in, unsigned flags);

/* 1 if s[0..n) holds a C0 control or DEL. */
int text_has_ctl(const char *s, size_t n);

/* 1 if every byte of s[0..n) is printable ASCII (0x20..0x7e). */
int text_is_printable_ascii(const char *s, size_t n);

/* 1 if s[0..n) holds a character that can hide or reorder text where a
 * human reads it: C0 controls and DEL, C1 controls (U+0080–U+009F), bidi
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
 * the line/paragraph separators U+2028/U+2029. Invalid UTF-8 counts too. */
int text_has_deceptive(const char *s, size_t n);

#endif
