#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "err.h"

/* Every enum kw_err code: the list the ranges are checked against. */
static const int kw_codes[] = {
    KW_ERR_NOMEM,
    KW_ERR_INTERNAL,
    KW_ERR_STATE,
    KW_ERR_ARGUMENT,
    KW_ERR_RECORD_TOO_LARGE,
    KW_ERR_RECORD_TOO_SHORT,
    KW_ERR_BAD_SEQUENCE,
    KW_ERR_DECRYPT,
    KW_ERR_SEQ_OVERFLOW,
    KW_ERR_EMPTY_RECORDS,
    KW_ERR_TLV_TRUNCATED,
    KW_ERR_TLV_OVERLONG,
    KW_ERR_NO_KEY_SHARE,
    KW_ERR_KEY_SHARE_LENGTH,
    KW_ERR_KEY_SHARE_INVALID,
    KW_ERR_BAD_SERVER_NAME,
    KW_ERR_UNEXPECTED_MESSAGE,
    KW_ERR_NO_CERTIFICATE,
    KW_ERR_NO_SIGNATURE,
    KW_ERR_CERT_PARSE,
    KW_ERR_CERT_UNTRUSTED,
    KW_ERR_CERT_EXPIRED,
    KW_ERR_CERT_NAME,
    KW_ERR_CERT_INVALID,
    KW_ERR_BAD_SIGNATURE,
    KW_ERR_UNSUPPORTED_KEY,
    KW_ERR_SIGN_FAILED,
    KW_ERR_SIGN_TIMEOUT,
    KW_ERR_TLS_HANDSHAKE,
    KW_ERR_TLS_RECORD,
    KW_ERR_PROXY_HEADER,
};
#define N_KW_CODES (sizeof(kw_codes) / sizeof(kw_codes[0]))

Test(err, the_ranges_do_not_overlap)
{
	cr_assert_lt(KW_ERRNO_MIN, KW_ERRNO_MAX);
	cr_assert_lt(KW_HTTP_ERR_MIN, KW_HTTP_ERR_MAX);
	cr_assert_lt(KW_ERR_MIN, KW_ERR_MAX);
	cr_assert_lt(KW_ERRNO_MAX, 0);
	cr_assert_lt(KW_HTTP_ERR_MAX, KW_ERRNO_MIN);
	cr_assert_lt(KW_ERR_MAX, KW_HTTP_ERR_MIN);
	/* every negative value belongs to one family at most, at the bounds and one past */
	for (int code = KW_ERR_MIN - 2; code <= 1; code++) {
		int families = (code >= KW_ERRNO_MIN && code <= KW_ERRNO_MAX) +
		               (code >= KW_HTTP_ERR_MIN && code <= KW_HTTP_ERR_MAX) +
		               (code >= KW_ERR_MIN && code <= KW_ERR_MAX);
		cr_assert_leq(families, 1, "code %d", code);
	}
}

Test(err, every_errno_value_is_in_the_errno_range)
{
	/* every errno this C library names, up to the kernel's MAX_ERRNO */
	unsigned named = 0;

	for (int e = 1; e <= 4095; e++) {
		if (strerrorname_np(e) == NULL)
			continue;
		named++;
		cr_assert_eq(kw_err_family(-e), KW_FAMILY_ERRNO, "-%s (%d)", strerrorname_np(e),
		             -e);
	}
	cr_assert_gt(named, 100);
	cr_assert_eq(kw_err_family(-EAGAIN), KW_FAMILY_ERRNO);
	cr_assert_neq(-EAGAIN, KW_ERR_RECORD_TOO_SHORT);
}

Test(err, every_http_error_status_is_in_the_http_range)
{
	for (int status = 400; status <= 599; status++)
		cr_assert_eq(kw_err_family(-status), KW_FAMILY_HTTP, "-%d", status);
	cr_assert_eq(kw_err_family(-399), KW_FAMILY_ERRNO);
	cr_assert_eq(kw_err_family(-600), KW_FAMILY_NONE);
}

Test(err, every_kw_err_code_is_in_its_range_described_and_distinct)
{
	for (size_t i = 0; i < N_KW_CODES; i++) {
		cr_assert_eq(kw_err_family(kw_codes[i]), KW_FAMILY_KW, "code %d", kw_codes[i]);
		cr_assert_str_neq(kw_strerror(kw_codes[i]), "unknown error", "code %d",
		                  kw_codes[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(kw_codes[i], kw_codes[j]);
	}
	/* the list is complete: every other value of the range is unknown */
	for (int code = KW_ERR_MIN; code <= KW_ERR_MAX; code++) {
		bool listed = false;

		for (size_t i = 0; i < N_KW_CODES; i++)
			listed |= kw_codes[i] == code;
		if (!listed)
			cr_assert_str_eq(kw_strerror(code), "unknown error", "code %d", code);
	}
}

Test(err, outside_every_range)
{
	cr_assert_eq(kw_err_family(KW_OK), KW_FAMILY_NONE);
	cr_assert_eq(kw_err_family(1), KW_FAMILY_NONE);
	cr_assert_eq(kw_err_family(KW_ERR_MAX + 1), KW_FAMILY_NONE);
	cr_assert_eq(kw_err_family(KW_ERR_MIN - 1), KW_FAMILY_NONE);
	cr_assert_str_eq(kw_strerror(KW_OK), "success");
	cr_assert_str_eq(kw_strerror(KW_ERR_MIN - 1), "unknown error");
}

Test(err, strerror_of_each_family)
{
	cr_assert_str_eq(kw_strerror(-EAGAIN), strerror(EAGAIN));
	cr_assert_str_eq(kw_strerror(KW_ERR_RECORD_TOO_SHORT), "record shorter than 36 bytes");
	cr_assert_str_eq(kw_strerror(-413), "HTTP client error status");
	cr_assert_str_eq(kw_strerror(-500), "HTTP server error status");
}
