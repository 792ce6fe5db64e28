//! Published test vectors for the primitives, then the envelope's binding and
//! tamper properties: every failure is a typed error, never a panic.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn aes_256_gcm_published_vectors() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14, 16.
    let cases = [
        ("0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
        ("0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
        (
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888",
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (k, iv, p, a, c, t) in cases {
        let cipher = Aes256Gcm::new_from_slice(&hex(k)).expect("key");
        let out = cipher
            .encrypt(
                Nonce::from_slice(&hex(iv)),
                Payload {
                    msg: &hex(p),
                    aad: &hex(a),
                },
            )
            .expect("encrypt");
        let mut want = hex(c);
        want.extend(hex(t));
        assert_eq!(out, want, "key {k}");
    }
}

#[test]
fn hkdf_sha256_rfc5869_case_1() {
    let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    let salt = hex("000102030405060708090a0b0c");
    let info = hex("f0f1f2f3f4f5f6f7f8f9");
    let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut okm = [0u8; 42];
    hk.expand(&info, &mut okm).expect("expand");
    assert_eq!(
        okm.to_vec(),
        hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    );
}

const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn ring(active: &str) -> KeyRing {
    KeyRing::parse(&format!(
        r#"{{"active":"{active}","keys":{{"k1":"{K1}","k2":"{K2}"}}}}"#
    ))
    .expect("ring")
}

const REC: Binding<'static> = Binding {
    tenant: "acme",
    kind: RecordKind::ConnectionSecret,
    id: "conn_1",
};

fn sealed() -> Envelope {
    seal(&ring("k1"), &REC, b"sk_live_secret", [7; 12]).expect("seal")
}

#[test]
fn round_trip_and_stored_form() {
    let e = sealed();
    assert_eq!((e.v, e.kid.as_str()), (1, "k1"));
    let parsed = Envelope::parse(&e.to_json()).expect("parse");
    assert_eq!(parsed, e);
    assert!(!e.to_json().contains("sk_live"));
    let s = open(&ring("k2"), &REC, &parsed).expect("opens under a ring that still holds k1");
    assert_eq!(s.expose(), b"sk_live_secret");
    assert!(e.needs_reencrypt(&ring("k2")));
    assert!(!e.needs_reencrypt(&ring("k1")));
}

#[test]
fn a_ciphertext_moved_to_another_record_tenant_or_kind_does_not_open() {
    let e = sealed();
    let others = [
        Binding {
            tenant: "globex",
            ..REC
        },
        Binding {
            id: "conn_2",
            ..REC
        },
        Binding {
            kind: RecordKind::ConnectionTokens,
            ..REC
        },
        Binding {
            kind: RecordKind::ConnectorClientSecret,
            ..REC
        },
        // Length prefixes: shifting bytes between fields changes the data.
        Binding {
            tenant: "acm",
            id: "econn_1",
            ..REC
        },
    ];
    for b in others {
        assert_eq!(
            open(&ring("k1"), &b, &e).err(),
            Some(VaultError::Decrypt),
            "{b:?}"
        );
    }
}

#[test]
fn tampering_fails_closed_with_typed_errors() {
    let e = sealed();
    let r = ring("k1");
    let flip = |s: &str, at: usize| {
        let mut b = STANDARD.decode(s).expect("b64");
        b[at] ^= 1;
        STANDARD.encode(b)
    };
    let clen = STANDARD.decode(&e.c).expect("b64").len();
    let cases: Vec<(Envelope, VaultError)> = vec![
        (
            Envelope {
                n: flip(&e.n, 0),
                ..e.clone()
            },
            VaultError::Decrypt,
        ),
        (
            Envelope {
                c: flip(&e.c, 0),
                ..e.clone()
            },
            VaultError::Decrypt,
        ),
        (
            Envelope {
                c: flip(&e.c, clen - 1),
                ..e.clone()
            },
            VaultError::Decrypt,
        ),
        // Relabelled to another kid the ring holds: the key and the data differ.
        (
            Envelope {
                kid: "k2".into(),
                ..e.clone()
            },
            VaultError::Decrypt,
        ),
        (
            Envelope {
                kid: "gone".into(),
                ..e.clone()
            },
            VaultError::UnknownKid("gone".into()),
        ),
        (
            Envelope {
                n: STANDARD.encode([0u8; 8]),
                ..e.clone()
            },
            VaultError::Malformed("nonce"),
        ),
        (
            Envelope {
                n: "%%".into(),
                ..e.clone()
            },
            VaultError::Malformed("nonce"),
        ),
        (
            Envelope {
                c: STANDARD.encode([0u8; 15]),
                ..e.clone()
            },
            VaultError::Malformed("ciphertext"),
        ),
        (
            Envelope { v: 2, ..e.clone() },
            VaultError::Malformed("unknown version"),
        ),
    ];
    for (bad, want) in cases {
        assert_eq!(open(&r, &REC, &bad).err(), Some(want), "{bad:?}");
    }
    for raw in [
        "",
        "{}",
        "[]",
        r#"{"v":1,"kid":"k1","n":"","c":"","x":1}"#,
        r#"{"v":2,"kid":"k1","n":"","c":""}"#,
    ] {
        assert!(
            matches!(Envelope::parse(raw), Err(VaultError::Malformed(_))),
            "{raw}"
        );
    }
}

#[test]
fn tenant_keys_differ_per_tenant_and_master_and_errors_carry_no_material() {
    let m1 = [1u8; 32];
    let m2 = [2u8; 32];
    assert_ne!(tenant_key(&m1, "acme"), tenant_key(&m1, "globex"));
    assert_ne!(tenant_key(&m1, "acme"), tenant_key(&m2, "acme"));
    assert_eq!(tenant_key(&m1, "acme"), tenant_key(&m1, "acme"));
    let e = sealed();
    for err in [
        open(&ring("k1"), &Binding { tenant: "x", ..REC }, &e).err(),
        open(
            &ring("k1"),
            &REC,
            &Envelope {
                kid: "gone".into(),
                ..e.clone()
            },
        )
        .err(),
    ] {
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            !shown.contains("sk_live") && !shown.contains(&e.c) && !shown.contains(K1),
            "{shown}"
        );
    }
}
