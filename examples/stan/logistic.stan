// A small logistic regression, as a practitioner writes it: run it on every engine with
//   nextstat run --case examples/stan/logistic.stan --data examples/stan/logistic.data.json \
//       --engine nextstat_nuts --seed 42 --budget 4x1000x1000 --out logistic.json
data {
  int<lower=0> N;
  int<lower=0> K;
  matrix[N, K] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real alpha;
  vector[K] beta;
}
model {
  alpha ~ normal(0, 2);
  beta ~ normal(0, 1);
  y ~ bernoulli_logit(alpha + x * beta);
}
