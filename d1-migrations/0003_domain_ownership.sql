-- Domain ownership (DESIGN §2.5): pending/active status, the DNS TXT challenge,
-- and a reversed-name column so overlap checks find every name below a wildcard
-- with one index range. Never edit an applied migration; add a new numbered file.

-- Rows that exist already were created by trusted writers: they stay served.
ALTER TABLE domains ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
-- The value the owner must publish at _portico-challenge.<domain> (NULL once active
-- or when created with a control-plane token).
ALTER TABLE domains ADD COLUMN verification_token TEXT;
-- Last check: when, and its outcome (verified | not_found | mismatch | lookup_failed).
ALTER TABLE domains ADD COLUMN checked_at TEXT;
ALTER TABLE domains ADD COLUMN last_check TEXT;
ALTER TABLE domains ADD COLUMN verified_at TEXT;

-- `domain` with its characters reversed (names are at most 253 ASCII characters):
-- every name below `x.y` has a reversed form in ["y.x.", "y.x/"). SQLite has no
-- reverse(), so the expression spells it out (as a balanced tree: D1 refuses
-- expressions deeper than 100); being a generated column, it is right for every row
-- however it was written (API, seed files, tests).
ALTER TABLE domains ADD COLUMN domain_rev TEXT GENERATED ALWAYS AS (
  (
    (
      (
        (
          (
            (substr(domain, 253, 1) || substr(domain, 252, 1) || substr(domain, 251, 1) || substr(domain, 250, 1) || substr(domain, 249, 1) || substr(domain, 248, 1) || substr(domain, 247, 1) || substr(domain, 246, 1)) ||
            (substr(domain, 245, 1) || substr(domain, 244, 1) || substr(domain, 243, 1) || substr(domain, 242, 1) || substr(domain, 241, 1) || substr(domain, 240, 1) || substr(domain, 239, 1) || substr(domain, 238, 1))
          ) ||
          (
            (substr(domain, 237, 1) || substr(domain, 236, 1) || substr(domain, 235, 1) || substr(domain, 234, 1) || substr(domain, 233, 1) || substr(domain, 232, 1) || substr(domain, 231, 1) || substr(domain, 230, 1)) ||
            (substr(domain, 229, 1) || substr(domain, 228, 1) || substr(domain, 227, 1) || substr(domain, 226, 1) || substr(domain, 225, 1) || substr(domain, 224, 1) || substr(domain, 223, 1) || substr(domain, 222, 1))
          )
        ) ||
        (
          (
            (substr(domain, 221, 1) || substr(domain, 220, 1) || substr(domain, 219, 1) || substr(domain, 218, 1) || substr(domain, 217, 1) || substr(domain, 216, 1) || substr(domain, 215, 1) || substr(domain, 214, 1)) ||
            (substr(domain, 213, 1) || substr(domain, 212, 1) || substr(domain, 211, 1) || substr(domain, 210, 1) || substr(domain, 209, 1) || substr(domain, 208, 1) || substr(domain, 207, 1) || substr(domain, 206, 1))
          ) ||
          (
            (substr(domain, 205, 1) || substr(domain, 204, 1) || substr(domain, 203, 1) || substr(domain, 202, 1) || substr(domain, 201, 1) || substr(domain, 200, 1) || substr(domain, 199, 1) || substr(domain, 198, 1)) ||
            (substr(domain, 197, 1) || substr(domain, 196, 1) || substr(domain, 195, 1) || substr(domain, 194, 1) || substr(domain, 193, 1) || substr(domain, 192, 1) || substr(domain, 191, 1) || substr(domain, 190, 1))
          )
        )
      ) ||
      (
        (
          (
            (substr(domain, 189, 1) || substr(domain, 188, 1) || substr(domain, 187, 1) || substr(domain, 186, 1) || substr(domain, 185, 1) || substr(domain, 184, 1) || substr(domain, 183, 1) || substr(domain, 182, 1)) ||
            (substr(domain, 181, 1) || substr(domain, 180, 1) || substr(domain, 179, 1) || substr(domain, 178, 1) || substr(domain, 177, 1) || substr(domain, 176, 1) || substr(domain, 175, 1) || substr(domain, 174, 1))
          ) ||
          (
            (substr(domain, 173, 1) || substr(domain, 172, 1) || substr(domain, 171, 1) || substr(domain, 170, 1) || substr(domain, 169, 1) || substr(domain, 168, 1) || substr(domain, 167, 1) || substr(domain, 166, 1)) ||
            (substr(domain, 165, 1) || substr(domain, 164, 1) || substr(domain, 163, 1) || substr(domain, 162, 1) || substr(domain, 161, 1) || substr(domain, 160, 1) || substr(domain, 159, 1) || substr(domain, 158, 1))
          )
        ) ||
        (
          (
            (substr(domain, 157, 1) || substr(domain, 156, 1) || substr(domain, 155, 1) || substr(domain, 154, 1) || substr(domain, 153, 1) || substr(domain, 152, 1) || substr(domain, 151, 1) || substr(domain, 150, 1)) ||
            (substr(domain, 149, 1) || substr(domain, 148, 1) || substr(domain, 147, 1) || substr(domain, 146, 1) || substr(domain, 145, 1) || substr(domain, 144, 1) || substr(domain, 143, 1) || substr(domain, 142, 1))
          ) ||
          (
            (substr(domain, 141, 1) || substr(domain, 140, 1) || substr(domain, 139, 1) || substr(domain, 138, 1) || substr(domain, 137, 1) || substr(domain, 136, 1) || substr(domain, 135, 1) || substr(domain, 134, 1)) ||
            (substr(domain, 133, 1) || substr(domain, 132, 1) || substr(domain, 131, 1) || substr(domain, 130, 1) || substr(domain, 129, 1) || substr(domain, 128, 1) || substr(domain, 127, 1) || substr(domain, 126, 1))
          )
        )
      )
    ) ||
    (
      (
        (
          (
            (substr(domain, 125, 1) || substr(domain, 124, 1) || substr(domain, 123, 1) || substr(domain, 122, 1) || substr(domain, 121, 1) || substr(domain, 120, 1) || substr(domain, 119, 1) || substr(domain, 118, 1)) ||
            (substr(domain, 117, 1) || substr(domain, 116, 1) || substr(domain, 115, 1) || substr(domain, 114, 1) || substr(domain, 113, 1) || substr(domain, 112, 1) || substr(domain, 111, 1) || substr(domain, 110, 1))
          ) ||
          (
            (substr(domain, 109, 1) || substr(domain, 108, 1) || substr(domain, 107, 1) || substr(domain, 106, 1) || substr(domain, 105, 1) || substr(domain, 104, 1) || substr(domain, 103, 1) || substr(domain, 102, 1)) ||
            (substr(domain, 101, 1) || substr(domain, 100, 1) || substr(domain, 99, 1) || substr(domain, 98, 1) || substr(domain, 97, 1) || substr(domain, 96, 1) || substr(domain, 95, 1) || substr(domain, 94, 1))
          )
        ) ||
        (
          (
            (substr(domain, 93, 1) || substr(domain, 92, 1) || substr(domain, 91, 1) || substr(domain, 90, 1) || substr(domain, 89, 1) || substr(domain, 88, 1) || substr(domain, 87, 1) || substr(domain, 86, 1)) ||
            (substr(domain, 85, 1) || substr(domain, 84, 1) || substr(domain, 83, 1) || substr(domain, 82, 1) || substr(domain, 81, 1) || substr(domain, 80, 1) || substr(domain, 79, 1) || substr(domain, 78, 1))
          ) ||
          (
            (substr(domain, 77, 1) || substr(domain, 76, 1) || substr(domain, 75, 1) || substr(domain, 74, 1) || substr(domain, 73, 1) || substr(domain, 72, 1) || substr(domain, 71, 1) || substr(domain, 70, 1)) ||
            (substr(domain, 69, 1) || substr(domain, 68, 1) || substr(domain, 67, 1) || substr(domain, 66, 1) || substr(domain, 65, 1) || substr(domain, 64, 1) || substr(domain, 63, 1) || substr(domain, 62, 1))
          )
        )
      ) ||
      (
        (
          (
            (substr(domain, 61, 1) || substr(domain, 60, 1) || substr(domain, 59, 1) || substr(domain, 58, 1) || substr(domain, 57, 1) || substr(domain, 56, 1) || substr(domain, 55, 1) || substr(domain, 54, 1)) ||
            (substr(domain, 53, 1) || substr(domain, 52, 1) || substr(domain, 51, 1) || substr(domain, 50, 1) || substr(domain, 49, 1) || substr(domain, 48, 1) || substr(domain, 47, 1) || substr(domain, 46, 1))
          ) ||
          (
            (substr(domain, 45, 1) || substr(domain, 44, 1) || substr(domain, 43, 1) || substr(domain, 42, 1) || substr(domain, 41, 1) || substr(domain, 40, 1) || substr(domain, 39, 1) || substr(domain, 38, 1)) ||
            (substr(domain, 37, 1) || substr(domain, 36, 1) || substr(domain, 35, 1) || substr(domain, 34, 1) || substr(domain, 33, 1) || substr(domain, 32, 1) || substr(domain, 31, 1) || substr(domain, 30, 1))
          )
        ) ||
        (
          (
            (substr(domain, 29, 1) || substr(domain, 28, 1) || substr(domain, 27, 1) || substr(domain, 26, 1) || substr(domain, 25, 1) || substr(domain, 24, 1) || substr(domain, 23, 1) || substr(domain, 22, 1)) ||
            (substr(domain, 21, 1) || substr(domain, 20, 1) || substr(domain, 19, 1) || substr(domain, 18, 1) || substr(domain, 17, 1) || substr(domain, 16, 1) || substr(domain, 15, 1) || substr(domain, 14, 1))
          ) ||
          (
            (substr(domain, 13, 1) || substr(domain, 12, 1) || substr(domain, 11, 1) || substr(domain, 10, 1) || substr(domain, 9, 1) || substr(domain, 8, 1) || substr(domain, 7, 1) || substr(domain, 6, 1)) ||
            (substr(domain, 5, 1) || substr(domain, 4, 1) || substr(domain, 3, 1) || substr(domain, 2, 1) || substr(domain, 1, 1))
          )
        )
      )
    )
  )
) VIRTUAL;
CREATE INDEX IF NOT EXISTS domains_rev ON domains(domain_rev);

-- The scheduled re-check takes the pending domains checked longest ago.
CREATE INDEX IF NOT EXISTS domains_status_checked ON domains(status, checked_at);
