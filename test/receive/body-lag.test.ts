import t from 'tap';
import { createBodyLag } from '../../src/receive/body-lag.js';

t.test('one slow body does not move the estimate; half of the recent ones do', async (t) => {
  const lag = createBodyLag(8);
  t.equal(lag.current(0), 0, 'no bodies yet: no lag');
  lag.record(60_000, 1000);
  t.equal(lag.current(1000), 0, 'a lone body that took a minute (a fresh gateway): still no lag');
  for (let i = 0; i < 3; i++) lag.record(5, 1000);
  lag.record(60_000, 1000);
  t.equal(lag.current(1000), 5, 'two slow bodies among fast ones: the fast ones decide');
  for (let i = 0; i < 4; i++) lag.record(8_000, 1000);
  t.equal(lag.current(1000), 8_000, 'most recent bodies late: the estimate follows them');
});

t.test('the estimate decays in real time since the last body arrived', async (t) => {
  const lag = createBodyLag(4);
  for (let i = 0; i < 4; i++) lag.record(3_000, 10_000);
  t.equal(lag.current(10_000), 3_000);
  t.equal(lag.current(11_000), 2_000, 'one second later');
  t.equal(lag.current(20_000), 0, 'never below zero');
});
