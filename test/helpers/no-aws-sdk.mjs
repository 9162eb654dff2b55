// `node --import ./test/helpers/no-aws-sdk.mjs`: the process behaves as if the AWS SDK were not
// installed (resolving any @aws-sdk/ package fails), and lists on stderr every one asked for.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@aws-sdk/')) {
    process.stderr.write('loaded-aws-sdk ' + specifier + '\\n');
    const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`)}`,
);
