/**
 * Loaded by mocha before any test (see .mocharc.json): the AWS SDK's notice
 * about a future Node 22 requirement would otherwise print in every suite.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
