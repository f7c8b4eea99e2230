"""The numbers stacks report, with the names their headers give them (data only).

Copied from Debian bookworm's headers: OpenSSL 3.0 ``openssl/x509_vfy.h`` (X509_V_ERR_*, the
verification results CPython, Node, curl and BoringSSL report by number), wolfSSL 5.5.4
``wolfssl/wolfcrypt/error-crypt.h`` and ``wolfssl/error-ssl.h`` (negative error numbers),
GnuTLS 3.7 ``gnutls/gnutls.h`` (gnutls_certificate_status_t bits). These numbers are ABI: they
do not change between releases; a number missing here is shown as the number.
"""
from __future__ import annotations

X509_V_ERR: dict[int, str] = {
    1: 'UNSPECIFIED', 2: 'UNABLE_TO_GET_ISSUER_CERT', 3: 'UNABLE_TO_GET_CRL',
    4: 'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 5: 'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 6: 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
    7: 'CERT_SIGNATURE_FAILURE', 8: 'CRL_SIGNATURE_FAILURE', 9: 'CERT_NOT_YET_VALID',
    10: 'CERT_HAS_EXPIRED', 11: 'CRL_NOT_YET_VALID', 12: 'CRL_HAS_EXPIRED',
    13: 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 14: 'ERROR_IN_CERT_NOT_AFTER_FIELD', 15: 'ERROR_IN_CRL_LAST_UPDATE_FIELD',
    16: 'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 17: 'OUT_OF_MEM', 18: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    19: 'SELF_SIGNED_CERT_IN_CHAIN', 20: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 21: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    22: 'CERT_CHAIN_TOO_LONG', 23: 'CERT_REVOKED', 24: 'NO_ISSUER_PUBLIC_KEY',
    25: 'PATH_LENGTH_EXCEEDED', 26: 'INVALID_PURPOSE', 27: 'CERT_UNTRUSTED',
    28: 'CERT_REJECTED', 29: 'SUBJECT_ISSUER_MISMATCH', 30: 'AKID_SKID_MISMATCH',
    31: 'AKID_ISSUER_SERIAL_MISMATCH', 32: 'KEYUSAGE_NO_CERTSIGN', 33: 'UNABLE_TO_GET_CRL_ISSUER',
    34: 'UNHANDLED_CRITICAL_EXTENSION', 35: 'KEYUSAGE_NO_CRL_SIGN', 36: 'UNHANDLED_CRITICAL_CRL_EXTENSION',
    37: 'INVALID_NON_CA', 38: 'PROXY_PATH_LENGTH_EXCEEDED', 39: 'KEYUSAGE_NO_DIGITAL_SIGNATURE',
    40: 'PROXY_CERTIFICATES_NOT_ALLOWED', 41: 'INVALID_EXTENSION', 42: 'INVALID_POLICY_EXTENSION',
    43: 'NO_EXPLICIT_POLICY', 44: 'DIFFERENT_CRL_SCOPE', 45: 'UNSUPPORTED_EXTENSION_FEATURE',
    46: 'UNNESTED_RESOURCE', 47: 'PERMITTED_VIOLATION', 48: 'EXCLUDED_VIOLATION',
    49: 'SUBTREE_MINMAX', 50: 'APPLICATION_VERIFICATION', 51: 'UNSUPPORTED_CONSTRAINT_TYPE',
    52: 'UNSUPPORTED_CONSTRAINT_SYNTAX', 53: 'UNSUPPORTED_NAME_SYNTAX', 54: 'CRL_PATH_VALIDATION_ERROR',
    55: 'PATH_LOOP', 56: 'SUITE_B_INVALID_VERSION', 57: 'SUITE_B_INVALID_ALGORITHM',
    58: 'SUITE_B_INVALID_CURVE', 59: 'SUITE_B_INVALID_SIGNATURE_ALGORITHM', 60: 'SUITE_B_LOS_NOT_ALLOWED',
    61: 'SUITE_B_CANNOT_SIGN_P_384_WITH_P_256', 62: 'HOSTNAME_MISMATCH', 63: 'EMAIL_MISMATCH',
    64: 'IP_ADDRESS_MISMATCH', 65: 'DANE_NO_MATCH', 66: 'EE_KEY_TOO_SMALL',
    67: 'CA_KEY_TOO_SMALL', 68: 'CA_MD_TOO_WEAK', 69: 'INVALID_CALL',
    70: 'STORE_LOOKUP', 71: 'NO_VALID_SCTS', 72: 'PROXY_SUBJECT_NAME_VIOLATION',
    73: 'OCSP_VERIFY_NEEDED', 74: 'OCSP_VERIFY_FAILED', 75: 'OCSP_CERT_UNKNOWN',
    76: 'UNSUPPORTED_SIGNATURE_ALGORITHM', 77: 'SIGNATURE_ALGORITHM_MISMATCH', 78: 'SIGNATURE_ALGORITHM_INCONSISTENCY',
    79: 'INVALID_CA', 80: 'PATHLEN_INVALID_FOR_NON_CA', 81: 'PATHLEN_WITHOUT_KU_KEY_CERT_SIGN',
    82: 'KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA', 83: 'ISSUER_NAME_EMPTY', 84: 'SUBJECT_NAME_EMPTY',
    85: 'MISSING_AUTHORITY_KEY_IDENTIFIER', 86: 'MISSING_SUBJECT_KEY_IDENTIFIER', 87: 'EMPTY_SUBJECT_ALT_NAME',
    88: 'EMPTY_SUBJECT_SAN_NOT_CRITICAL', 89: 'CA_BCONS_NOT_CRITICAL', 90: 'AUTHORITY_KEY_IDENTIFIER_CRITICAL',
    91: 'SUBJECT_KEY_IDENTIFIER_CRITICAL', 92: 'CA_CERT_MISSING_KEY_USAGE', 93: 'EXTENSIONS_REQUIRE_VERSION_3',
    94: 'EC_KEY_EXPLICIT_PARAMS',
}

WOLFSSL_ERROR: dict[int, str] = {
    -130: 'RSA_WRONG_TYPE_E', -131: 'RSA_BUFFER_E', -132: 'BUFFER_E', -133: 'ALGO_ID_E',
    -134: 'PUBLIC_KEY_E', -135: 'DATE_E', -136: 'SUBJECT_E', -137: 'ISSUER_E',
    -138: 'CA_TRUE_E', -139: 'EXTENSIONS_E', -140: 'ASN_PARSE_E', -141: 'ASN_VERSION_E',
    -142: 'ASN_GETINT_E', -143: 'ASN_RSA_KEY_E', -144: 'ASN_OBJECT_ID_E', -145: 'ASN_TAG_NULL_E',
    -146: 'ASN_EXPECT_0_E', -147: 'ASN_BITSTR_E', -148: 'ASN_UNKNOWN_OID_E', -149: 'ASN_DATE_SZ_E',
    -150: 'ASN_BEFORE_DATE_E', -151: 'ASN_AFTER_DATE_E', -152: 'ASN_SIG_OID_E', -153: 'ASN_TIME_E',
    -154: 'ASN_INPUT_E', -155: 'ASN_SIG_CONFIRM_E', -156: 'ASN_SIG_HASH_E', -157: 'ASN_SIG_KEY_E',
    -158: 'ASN_DH_KEY_E', -160: 'ASN_CRIT_EXT_E', -161: 'ASN_ALT_NAME_E', -162: 'ASN_NO_PEM_HEADER',
    -170: 'ECC_BAD_ARG_E', -171: 'ASN_ECC_KEY_E', -172: 'ECC_CURVE_OID_E', -173: 'BAD_FUNC_ARG',
    -174: 'NOT_COMPILED_IN', -175: 'UNICODE_SIZE_E', -176: 'NO_PASSWORD', -177: 'ALT_NAME_E',
    -178: 'BAD_OCSP_RESPONDER', -179: 'CRL_CERT_DATE_ERR', -180: 'AES_GCM_AUTH_E', -181: 'AES_CCM_AUTH_E',
    -182: 'ASYNC_INIT_E', -183: 'COMPRESS_INIT_E', -184: 'COMPRESS_E', -185: 'DECOMPRESS_INIT_E',
    -186: 'DECOMPRESS_E', -187: 'BAD_ALIGN_E', -188: 'ASN_NO_SIGNER_E', -189: 'ASN_CRL_CONFIRM_E',
    -190: 'ASN_CRL_NO_SIGNER_E', -191: 'ASN_OCSP_CONFIRM_E', -192: 'BAD_STATE_E', -193: 'BAD_PADDING_E',
    -194: 'REQ_ATTRIBUTE_E', -195: 'PKCS7_OID_E', -196: 'PKCS7_RECIP_E', -197: 'FIPS_NOT_ALLOWED_E',
    -198: 'ASN_NAME_INVALID_E', -199: 'RNG_FAILURE_E', -200: 'HMAC_MIN_KEYLEN_E', -201: 'RSA_PAD_E',
    -202: 'LENGTH_ONLY_E', -211: 'THREAD_STORE_KEY_E', -212: 'THREAD_STORE_SET_E', -213: 'MAC_CMP_FAILED_E',
    -214: 'IS_POINT_E', -215: 'ECC_INF_E', -216: 'ECC_PRIV_KEY_E', -217: 'ECC_OUT_OF_RANGE_E',
    -218: 'SRP_CALL_ORDER_E', -219: 'SRP_VERIFY_E', -220: 'SRP_BAD_KEY_E', -221: 'ASN_NO_SKID',
    -222: 'ASN_NO_AKID', -223: 'ASN_NO_KEYUSAGE', -224: 'SKID_E', -225: 'AKID_E',
    -226: 'KEYUSAGE_E', -227: 'CERTPOLICIES_E', -228: 'WC_INIT_E', -229: 'SIG_VERIFY_E',
    -230: 'BAD_COND_E', -231: 'SIG_TYPE_E', -232: 'HASH_TYPE_E', -234: 'WC_KEY_SIZE_E',
    -235: 'ASN_COUNTRY_SIZE_E', -236: 'MISSING_RNG_E', -237: 'ASN_PATHLEN_SIZE_E', -238: 'ASN_PATHLEN_INV_E',
    -239: 'BAD_KEYWRAP_ALG_E', -240: 'BAD_KEYWRAP_IV_E', -241: 'WC_CLEANUP_E', -243: 'DH_CHECK_PUB_E',
    -244: 'BAD_PATH_ERROR', -245: 'ASYNC_OP_E', -246: 'ECC_PRIVATEONLY_E', -247: 'EXTKEYUSAGE_E',
    -248: 'WC_HW_E', -249: 'WC_HW_WAIT_E', -250: 'PSS_SALTLEN_E', -251: 'PRIME_GEN_E',
    -252: 'BER_INDEF_E', -253: 'RSA_OUT_OF_RANGE_E', -260: 'AES_GCM_OVERFLOW_E', -261: 'AES_CCM_OVERFLOW_E',
    -262: 'RSA_KEY_PAIR_E', -263: 'DH_CHECK_PRIV_E', -264: 'WC_AFALG_SOCK_E', -265: 'WC_DEVCRYPTO_E',
    -266: 'ZLIB_INIT_ERROR', -267: 'ZLIB_COMPRESS_ERROR', -268: 'ZLIB_DECOMPRESS_ERROR', -269: 'PKCS7_NO_SIGNER_E',
    -270: 'WC_PKCS7_WANT_READ_E', -271: 'CRYPTOCB_UNAVAILABLE', -272: 'PKCS7_SIGNEEDS_CHECK', -273: 'PSS_SALTLEN_RECOVER_E',
    -274: 'CHACHA_POLY_OVERFLOW', -275: 'ASN_SELF_SIGNED_E', -276: 'SAKKE_VERIFY_FAIL_E', -277: 'MISSING_IV',
    -278: 'MISSING_KEY', -279: 'BAD_LENGTH_E', -285: 'DHE_PCT_E', -286: 'ECC_PCT_E',
    -287: 'FIPS_PRIVATE_KEY_LOCKED_E', -288: 'PROTOCOLCB_UNAVAILABLE', -289: 'AES_SIV_AUTH_E', -290: 'NO_VALID_DEVID',
    -291: 'IO_FAILED_E', -292: 'SYSLIB_FAILED_E', -293: 'USE_HW_PSK', -294: 'ENTROPY_RT_E',
    -295: 'ENTROPY_APT_E', -300: 'MIN_CODE_E', -301: 'INPUT_CASE_ERROR', -302: 'PREFIX_ERROR',
    -303: 'MEMORY_ERROR', -304: 'VERIFY_FINISHED_ERROR', -305: 'VERIFY_MAC_ERROR', -306: 'PARSE_ERROR',
    -307: 'UNKNOWN_HANDSHAKE_TYPE', -308: 'SOCKET_ERROR_E', -309: 'SOCKET_NODATA', -310: 'INCOMPLETE_DATA',
    -311: 'UNKNOWN_RECORD_TYPE', -312: 'DECRYPT_ERROR', -313: 'FATAL_ERROR', -314: 'ENCRYPT_ERROR',
    -315: 'FREAD_ERROR', -316: 'NO_PEER_KEY', -317: 'NO_PRIVATE_KEY', -318: 'RSA_PRIVATE_ERROR',
    -319: 'NO_DH_PARAMS', -320: 'BUILD_MSG_ERROR', -321: 'BAD_HELLO', -322: 'DOMAIN_NAME_MISMATCH',
    -323: 'WANT_READ', -324: 'NOT_READY_ERROR', -325: 'IPADDR_MISMATCH', -326: 'VERSION_ERROR',
    -327: 'WANT_WRITE', -328: 'BUFFER_ERROR', -329: 'VERIFY_CERT_ERROR', -330: 'VERIFY_SIGN_ERROR',
    -331: 'CLIENT_ID_ERROR', -332: 'SERVER_HINT_ERROR', -333: 'PSK_KEY_ERROR', -337: 'GETTIME_ERROR',
    -338: 'GETITIMER_ERROR', -339: 'SIGACT_ERROR', -340: 'SETITIMER_ERROR', -341: 'LENGTH_ERROR',
    -342: 'PEER_KEY_ERROR', -343: 'ZERO_RETURN', -344: 'SIDE_ERROR', -345: 'NO_PEER_CERT',
    -350: 'ECC_CURVETYPE_ERROR', -351: 'ECC_CURVE_ERROR', -352: 'ECC_PEERKEY_ERROR', -353: 'ECC_MAKEKEY_ERROR',
    -354: 'ECC_EXPORT_ERROR', -355: 'ECC_SHARED_ERROR', -357: 'NOT_CA_ERROR', -359: 'BAD_CERT_MANAGER_ERROR',
    -360: 'OCSP_CERT_REVOKED', -361: 'CRL_CERT_REVOKED', -362: 'CRL_MISSING', -363: 'MONITOR_SETUP_E',
    -364: 'THREAD_CREATE_E', -365: 'OCSP_NEED_URL', -366: 'OCSP_CERT_UNKNOWN', -367: 'OCSP_LOOKUP_FAIL',
    -368: 'MAX_CHAIN_ERROR', -369: 'COOKIE_ERROR', -370: 'SEQUENCE_ERROR', -371: 'SUITES_ERROR',
    -373: 'OUT_OF_ORDER_E', -374: 'BAD_KEA_TYPE_E', -375: 'SANITY_CIPHER_E', -376: 'RECV_OVERFLOW_E',
    -377: 'GEN_COOKIE_E', -378: 'NO_PEER_VERIFY', -379: 'FWRITE_ERROR', -380: 'CACHE_MATCH_ERROR',
    -381: 'UNKNOWN_SNI_HOST_NAME_E', -382: 'UNKNOWN_MAX_FRAG_LEN_E', -383: 'KEYUSE_SIGNATURE_E', -385: 'KEYUSE_ENCIPHER_E',
    -386: 'EXTKEYUSE_AUTH_E', -387: 'SEND_OOB_READ_E', -388: 'SECURE_RENEGOTIATION_E', -389: 'SESSION_TICKET_LEN_E',
    -390: 'SESSION_TICKET_EXPECT_E', -391: 'SCR_DIFFERENT_CERT_E', -392: 'SESSION_SECRET_CB_E', -393: 'NO_CHANGE_CIPHER_E',
    -394: 'SANITY_MSG_E', -395: 'DUPLICATE_MSG_E', -396: 'SNI_UNSUPPORTED', -397: 'SOCKET_PEER_CLOSED_E',
    -398: 'BAD_TICKET_KEY_CB_SZ', -399: 'BAD_TICKET_MSG_SZ', -400: 'BAD_TICKET_ENCRYPT', -401: 'DH_KEY_SIZE_E',
    -402: 'SNI_ABSENT_ERROR', -403: 'RSA_SIGN_FAULT', -404: 'HANDSHAKE_SIZE_ERROR', -405: 'UNKNOWN_ALPN_PROTOCOL_NAME_E',
    -406: 'BAD_CERTIFICATE_STATUS_ERROR', -407: 'OCSP_INVALID_STATUS', -408: 'OCSP_WANT_READ', -409: 'RSA_KEY_SIZE_E',
    -410: 'ECC_KEY_SIZE_E', -411: 'DTLS_EXPORT_VER_E', -412: 'INPUT_SIZE_E', -413: 'CTX_INIT_MUTEX_E',
    -414: 'EXT_MASTER_SECRET_NEEDED_E', -415: 'DTLS_POOL_SZ_E', -416: 'DECODE_E', -417: 'HTTP_TIMEOUT',
    -418: 'WRITE_DUP_READ_E', -419: 'WRITE_DUP_WRITE_E', -420: 'INVALID_CERT_CTX_E', -421: 'BAD_KEY_SHARE_DATA',
    -422: 'MISSING_HANDSHAKE_DATA', -423: 'BAD_BINDER', -424: 'EXT_NOT_ALLOWED', -425: 'INVALID_PARAMETER',
    -426: 'MCAST_HIGHWATER_CB_E', -427: 'ALERT_COUNT_E', -428: 'EXT_MISSING', -429: 'UNSUPPORTED_EXTENSION',
    -430: 'PRF_MISSING', -431: 'DTLS_RETX_OVER_TX', -432: 'DH_PARAMS_NOT_FFDHE_E', -433: 'TCA_INVALID_ID_TYPE',
    -434: 'TCA_ABSENT_ERROR', -435: 'TSIP_MAC_DIGSZ_E', -436: 'CLIENT_CERT_CB_ERROR', -437: 'SSL_SHUTDOWN_ALREADY_DONE_E',
    -438: 'TLS13_SECRET_CB_E', -439: 'DTLS_SIZE_ERROR', -440: 'NO_CERT_ERROR', -441: 'APP_DATA_READY',
    -442: 'TOO_MUCH_EARLY_DATA', -443: 'SOCKET_FILTERED_E', -444: 'HTTP_RECV_ERR', -445: 'HTTP_HEADER_ERR',
    -446: 'HTTP_PROTO_ERR', -447: 'HTTP_STATUS_ERR', -448: 'HTTP_VERSION_ERR', -449: 'HTTP_APPSTR_ERR',
    -450: 'UNSUPPORTED_PROTO_VERSION', -451: 'FALCON_KEY_SIZE_E', -452: 'QUIC_TP_MISSING_E', -453: 'DILITHIUM_KEY_SIZE_E',
    -454: 'DTLS_CID_ERROR', -455: 'DTLS_TOO_MANY_FRAGMENTS_E', -456: 'QUIC_WRONG_ENC_LEVEL', -457: 'DUPLICATE_TLS_EXT_E',
    -500: 'UNSUPPORTED_SUITE', -501: 'MATCH_SUITE_ERROR', -502: 'COMPRESSION_ERROR', -503: 'KEY_SHARE_ERROR',
    -504: 'POST_HAND_AUTH_ERROR', -505: 'HRR_COOKIE_ERROR',
}

GNUTLS_CERT_STATUS: dict[int, str] = {
    1 << 1: 'INVALID', 1 << 5: 'REVOKED', 1 << 6: 'SIGNER_NOT_FOUND',
    1 << 7: 'SIGNER_NOT_CA', 1 << 8: 'INSECURE_ALGORITHM', 1 << 9: 'NOT_ACTIVATED',
    1 << 10: 'EXPIRED', 1 << 11: 'SIGNATURE_FAILURE', 1 << 12: 'REVOCATION_DATA_SUPERSEDED',
    1 << 14: 'UNEXPECTED_OWNER', 1 << 15: 'REVOCATION_DATA_ISSUED_IN_FUTURE', 1 << 16: 'SIGNER_CONSTRAINTS_FAILURE',
    1 << 17: 'MISMATCH', 1 << 18: 'PURPOSE_MISMATCH', 1 << 19: 'MISSING_OCSP_STATUS',
    1 << 20: 'INVALID_OCSP_STATUS', 1 << 21: 'UNKNOWN_CRIT_EXTENSIONS',
}


# --- each stack's code, from what its probe wrote (error text and error_detail) -----------------------

import re  # noqa: E402 - the tables above are data; the readers below use them

_X509_NUMBER = re.compile(r"verify_code=(\d+)|X509_V_ERR (\d+)|verify error:num=(\d+)|ssl_verify_?result=(\d+)"
                          r"|OpenSSL verify result: [^(|]*\((\d+)\)")
#: OpenSSL's queued error line ("error:0A00007B:SSL routines:tls_process_cert_verify:bad signature:…",
#: BoringSSL: "error:0c00006d:ASN.1 encoding routines:OPENSSL_internal:DECODE_ERROR")
_OPENSSL_LINE = re.compile(r"error:[0-9A-Fa-f]{8}:([A-Za-z0-9. ]+?) routines:(?:[A-Za-z0-9_]*:)?([^:|\n]+)")
_OPENSSL_LIBS = {"ssl": "SSL", "asn1 encoding": "ASN1", "asn.1 encoding": "ASN1", "x509 certificate": "X509",
                 "x509 v3": "X509V3", "rsa": "RSA", "elliptic curve": "EC", "ecdsa": "ECDSA", "pem": "PEM",
                 "digital envelope": "EVP", "dh": "DH", "bignum": "BN"}
_PYSSL = re.compile(r"SSLError library=(\w+) reason=(\w+)")
_RUSTLS = re.compile(r"^(\w+)\((.*)\)")
_RUSTLS_CONTEXT = re.compile(r"(\w+?)(?:Context)?\s*\{.*$")
_RUSTLS_OTHER_ERROR = re.compile(r"OtherError\((.*)\)")  # rustls >= 0.23 wraps webpki's error once more
_GO_TYPE = re.compile(r"(?:^| > )\*?((?:x509|tls|asn1)\.\w+(?:\((?!host=)[^)]*\))?)")
_JAVA_REASON = re.compile(r"\[reason=(\w+)\]")
_JAVA_CLASS = re.compile(r"(?:^|<- )([\w.$]+?(?:Exception|Error))\b")
_GNUTLS = re.compile(r"(GNUTLS_E_\w+) \(-?\d+\)(?:, verify status 0x([0-9a-f]+))?")
_NSS = re.compile(r"\b((?:SEC|SSL|PR)_ERROR_\w+|PR_\w+_ERROR)\b")
_WOLFSSL = re.compile(r"^(-\d+)$")
_NODE = re.compile(r"^([A-Z][A-Z0-9_]+)")
_CURLE = re.compile(r"CURLcode=(\d+)|(CURLE_\w+)|curl: \((\d+)\)")


def x509_v_err(number: int) -> str:
    return "X509_V_ERR_" + X509_V_ERR.get(number, str(number))


def _openssl(error: str, detail: str) -> str | None:
    for text in (detail, error):
        m = _X509_NUMBER.search(text)
        if m and int(next(g for g in m.groups() if g)) > 1:  # 0: ok; 1 (unspecified): curl's own name check
            return x509_v_err(int(next(g for g in m.groups() if g)))
    m = _PYSSL.search(detail)
    if m and m.group(2) != "None":
        return f"{m.group(1)}_R_{m.group(2)}"
    m = _OPENSSL_LINE.search(error) or _OPENSSL_LINE.search(detail)
    if m:
        lib = _OPENSSL_LIBS.get(m.group(1).lower(), m.group(1).upper().replace(" ", "_"))
        return f"{lib}_R_{m.group(2).strip().upper().replace(' ', '_')}"
    return None


def _node(error: str, detail: str) -> str | None:
    m = _NODE.match(detail)
    if not m:
        return None
    code = m.group(1)  # Node names verification results by their X509_V_ERR name without the prefix
    if code == "UNSPECIFIED":  # Node's own code where its table lacks the X509_V_ERR name: the message says
        return code
    return "X509_V_ERR_" + code if code in X509_V_ERR.values() else code


def _curl(error: str, detail: str) -> str | None:
    code = _openssl(error, detail)
    if code:
        return code
    m = _CURLE.search(detail) or _CURLE.search(error)
    return None if m is None else (m.group(2) or f"CURLE {m.group(1) or m.group(3)}")


def _rustls(error: str, detail: str) -> str | None:
    """"InvalidCertificate(UnknownIssuer)" → "UnknownIssuer"; "InvalidCertificate(Other(OtherError(X)))"
    → "Other(X)"; "InvalidCertificate(ExpiredContext { … })" → "Expired"; "AlertReceived(X)" as it is."""
    m = _RUSTLS.match(detail.removesuffix(" (handshake signature)"))
    if not m:
        m = re.search(r"invalid peer certificate: (\w+)", error)  # kube-rs prints only the text
        return _RUSTLS_CONTEXT.sub(r"\1", m.group(1)) if m else None
    outer, inner = m.group(1), _RUSTLS_OTHER_ERROR.sub(r"\1", m.group(2))
    inner = _RUSTLS_CONTEXT.sub(r"\1", inner)
    return inner if outer == "InvalidCertificate" else f"{outer}({inner})"


def _go(error: str, detail: str) -> str | None:
    found = _GO_TYPE.findall(detail)
    return found[-1] if found else None  # the innermost typed error: the verdict itself


def _java(error: str, detail: str) -> str | None:
    m = _JAVA_REASON.search(detail)
    if m:
        return f"CertPathValidatorException.{m.group(1)}"
    found = _JAVA_CLASS.findall(detail)
    return found[-1].rsplit(".", 1)[-1] if found else None


def gnutls_status_names(status: int) -> list[str]:
    return [name for bit, name in GNUTLS_CERT_STATUS.items() if status & bit]


def _gnutls(error: str, detail: str) -> str | None:
    m = _GNUTLS.search(detail)
    if not m:
        return None
    # the status bits say something only after a verification (GNUTLS_E_CERTIFICATE_ERROR: the
    # certificate could not even be processed, and its bits are all set)
    if m.group(2) and int(m.group(2), 16) and m.group(1) == "GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR":
        reasons = [n for n in gnutls_status_names(int(m.group(2), 16)) if n != "INVALID"]
        return "GNUTLS_CERT_" + ("|".join(reasons) or "INVALID")  # INVALID alone: not trusted, no reason given
    return m.group(1)


def _nss(error: str, detail: str) -> str | None:
    m = _NSS.search(detail) or _NSS.search(error)
    return m.group(1) if m else None


def _wolfssl(error: str, detail: str) -> str | None:
    m = _WOLFSSL.match(detail.strip())
    return WOLFSSL_ERROR.get(int(m.group(1)), m.group(1)) if m else None


def _kube(error: str, detail: str) -> str | None:
    return _rustls(error, "") if "invalid peer certificate" in error else _openssl(error, "")


_READERS = {"openssl": _openssl, "node": _node, "curl": _curl, "boringssl": _curl, "rustls": _rustls, "go": _go,
            "java": _java, "gnutls": _gnutls, "nss": _nss, "wolfssl": _wolfssl, "kube": _kube}


def native_code(family: str, error: str | None, detail: str | None) -> str | None:
    """The stack's own code for a failed handshake: X509_V_ERR_* (OpenSSL, Node, curl, BoringSSL), an
    OpenSSL LIB_R_REASON, webpki's CertificateError variant, Go's x509/tls error type, Java's
    CertPathValidatorException reason, GnuTLS' status bits or GNUTLS_E_*, NSS' PRErrorCode name,
    wolfSSL's error name; None when the probe's words carry none."""
    read = _READERS.get(family)
    if read is None or not (error or detail):
        return None
    try:
        return read(error or "", detail or "")
    except (ValueError, IndexError):  # a code-like number out of range: no code, the text still classifies
        return None
