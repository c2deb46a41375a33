/* hex.h - strict lower-case hexadecimal.
 *
 * Nostr writes ids, public keys and signatures as lower-case hex. The relay
 * accepts exactly that: upper-case digits are rejected, because two
 * spellings of one id would let a client bypass deduplication and filters
 * that compare text.
 */
#ifndef NS_HEX_H
#define NS_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the value 0..15 of a lower-case hex digit, or -1. */
int ns_hex_val(unsigned char c);

/* Decodes exactly 2*n lower-case hex characters from s into out[n].
 * Returns 0, or NS_EINVAL if a character is not a lower-case hex digit
 * (out is then partly written). */
int ns_hex_decode(const char *s, uint8_t *out, size_t n);

/* True when s[0..len) consists only of lower-case hex digits. */
bool ns_hex_is_lower(const char *s, size_t len);

/* Writes 2*n lower-case hex digits and a NUL into out[2*n+1]. */
void ns_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
