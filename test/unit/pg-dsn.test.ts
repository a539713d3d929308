import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ParsedDsn, type SslMode, parseDsn } from '../../src/sources/postgres/protocol/dsn.js';

/** No PG* variables: what the connection string says, or libpq's defaults. */
const NO_ENV = {};

const DEFAULTS: ParsedDsn = {
  host: 'localhost',
  port: 5432,
  database: 'postgres',
  user: 'postgres',
  password: undefined,
  sslmode: 'prefer',
  sslrootcert: undefined,
  sslcert: undefined,
  sslkey: undefined,
  options: undefined,
};

function parsed(dsn: string, env: NodeJS.ProcessEnv = NO_ENV): ParsedDsn {
  return { ...DEFAULTS, ...parseDsn(dsn, env) };
}

function refused(dsn: string, reason: RegExp): void {
  assert.throws(() => parseDsn(dsn, NO_ENV), reason, dsn);
}

const SSL_MODES: SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

describe('a PostgreSQL connection string', () => {
  describe('as a URL', () => {
    it('gives host, port, database, user, password and query parameters', () => {
      assert.deepEqual(
        parsed(
          'postgres://relay:secret@db.example.com:6432/app?sslmode=verify-full&sslrootcert=/etc/ca.pem' +
            '&sslcert=/etc/client.pem&sslkey=/etc/client.key&options=-c%20search_path%3Dcdc',
        ),
        {
          host: 'db.example.com',
          port: 6432,
          database: 'app',
          user: 'relay',
          password: 'secret',
          sslmode: 'verify-full',
          sslrootcert: '/etc/ca.pem',
          sslcert: '/etc/client.pem',
          sslkey: '/etc/client.key',
          options: '-c search_path=cdc',
        },
      );
    });

    it('takes postgresql:// and any letter case in the scheme', () => {
      for (const scheme of ['postgresql', 'POSTGRES', 'PostgreSQL']) {
        assert.deepEqual(parsed(`${scheme}://db.example.com/app`), {
          ...DEFAULTS,
          host: 'db.example.com',
          database: 'app',
        });
      }
    });

    it('decodes percent-encoded user, password, database, host and query values', () => {
      assert.deepEqual(
        parsed('postgres://my%20user:p%40ss%3Aw%2Ford@%2Fvar%2Frun%2Fpostgresql/sales%2F2024'),
        {
          ...DEFAULTS,
          host: '/var/run/postgresql',
          database: 'sales/2024',
          user: 'my user',
          password: 'p@ss:w/ord',
        },
      );
      assert.equal(parsed('postgres://u@h/app?password=a%26b%3Dc').password, 'a&b=c');
    });

    it('takes an IPv6 address in brackets, without them', () => {
      assert.deepEqual(parsed('postgres://[::1]:5433/app'), {
        ...DEFAULTS,
        host: '::1',
        port: 5433,
        database: 'app',
      });
    });

    it('lets query parameters name the host (a socket directory) and the user', () => {
      assert.deepEqual(parsed('postgres:///app?host=/var/run/postgresql&user=relay'), {
        ...DEFAULTS,
        host: '/var/run/postgresql',
        database: 'app',
        user: 'relay',
      });
    });

    it('left empty, is libpq’s defaults: localhost, 5432, the database named as the user', () => {
      assert.deepEqual(parsed('postgres://'), DEFAULTS);
      assert.deepEqual(parsed('postgres://relay@localhost'), {
        ...DEFAULTS,
        user: 'relay',
        database: 'relay',
      });
    });
  });

  describe('as key=value pairs', () => {
    it('gives every key, with or without spaces around "="', () => {
      assert.deepEqual(
        parsed('host=db.example.com  port = 6432 dbname=app user=relay password=secret sslmode=require'),
        {
          ...DEFAULTS,
          host: 'db.example.com',
          port: 6432,
          database: 'app',
          user: 'relay',
          password: 'secret',
          sslmode: 'require',
        },
      );
    });

    it('takes quoted values with spaces, escaped quotes and backslashes, and empty ones', () => {
      assert.deepEqual(
        parsed(
          String.raw`host='my host' dbname='a b' password='it\'s a \\ secret' options='-c search_path=cdc'`,
        ),
        {
          ...DEFAULTS,
          host: 'my host',
          database: 'a b',
          password: String.raw`it's a \ secret`,
          options: '-c search_path=cdc',
        },
      );
      assert.equal(parsed("host=h password=''").password, '');
    });

    it('prefers hostaddr to host', () => {
      assert.equal(parsed('host=db.example.com hostaddr=10.0.0.7').host, '10.0.0.7');
    });

    it('accepts application_name and connect_timeout', () => {
      assert.deepEqual(parsed('host=h application_name=etl connect_timeout=5'), { ...DEFAULTS, host: 'h' });
    });

    it('left empty, is libpq’s defaults', () => {
      assert.deepEqual(parsed(''), DEFAULTS);
      assert.deepEqual(parsed('user=relay'), { ...DEFAULTS, user: 'relay', database: 'relay' });
    });
  });

  describe('sslmode', () => {
    it('is any of libpq’s six modes, in either form', () => {
      for (const mode of SSL_MODES) {
        assert.equal(parsed(`postgres://h/app?sslmode=${mode}`).sslmode, mode);
        assert.equal(parsed(`host=h sslmode=${mode}`).sslmode, mode);
      }
    });

    it('is prefer unless the string or PGSSLMODE says otherwise', () => {
      assert.equal(parsed('host=h').sslmode, 'prefer');
      assert.equal(parsed('host=h', { PGSSLMODE: 'require' }).sslmode, 'require');
      assert.equal(parsed('host=h sslmode=disable', { PGSSLMODE: 'require' }).sslmode, 'disable');
    });

    it('of another name is refused, listing the modes', () => {
      const allowed = /is not one of disable, allow, prefer, require, verify-ca, verify-full/;
      refused('host=h sslmode=on', new RegExp(`sslmode "on" ${allowed.source}`));
      refused('postgres://h/app?sslmode=Require', new RegExp(`sslmode "Require" ${allowed.source}`));
      assert.throws(() => parseDsn('host=h', { PGSSLMODE: 'strict' }), /sslmode "strict" is not one of/);
    });
  });

  it('falls back to PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD for what it leaves out', () => {
    const env = {
      PGHOST: 'env-host',
      PGPORT: '7000',
      PGDATABASE: 'env-db',
      PGUSER: 'env-user',
      PGPASSWORD: 'pw',
    };
    assert.deepEqual(parsed('', env), {
      ...DEFAULTS,
      host: 'env-host',
      port: 7000,
      database: 'env-db',
      user: 'env-user',
      password: 'pw',
    });
    assert.deepEqual(parsed('postgres://relay@db:6432/app', env), {
      ...DEFAULTS,
      host: 'db',
      port: 6432,
      database: 'app',
      user: 'relay',
      password: 'pw',
    });
    assert.equal(
      parsed('', { PGUSER: 'env-user' }).database,
      'env-user',
      'the database defaults to the user',
    );
  });

  describe('that is wrong is refused, saying what is wrong', () => {
    it('a parameter libpq may know but pgrelay does not use', () => {
      refused(
        'host=h target_session_attrs=read-write',
        /unsupported connection parameter "target_session_attrs"/,
      );
      refused('postgres://h/app?sslcompression=1', /unsupported connection parameter "sslcompression"/);
    });

    it('a port that is not a port number', () => {
      refused('host=h port=0', /port "0" is not a port number/);
      refused('host=h port=65536', /port "65536" is not a port number/);
      refused('host=h port=54x', /port "54x" is not a port number/);
      refused('postgres://h/app?port=-1', /port "-1" is not a port number/);
      refused('postgres://h:65536/app', /Invalid URL/);
    });

    it('a key without a value', () => {
      refused('host=h dbname', /cannot parse connection string near "dbname"/);
      refused('host=h =app', /cannot parse connection string near "=app"/);
    });

    it('a list of hosts and ports, which pgrelay does not fail over between', () => {
      refused('postgres://h1:5432,h2:5433/app', /Invalid URL/);
      refused('host=h1,h2 port=5432,5433', /port "5432,5433" is not a port number/);
    });
  });
});
