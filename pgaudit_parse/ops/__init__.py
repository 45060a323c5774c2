"""Operations: set up RDS for pgAudit, least-privilege IAM, doctor, the summary model and HTML.

Each module does one job and is usable from Python; :mod:`pgaudit_parse.cli.ops`
holds the thin argparse shells the CLI dispatches to.

>>> from pgaudit_parse.ops.iam_policy import build_policy
>>> build_policy("consumer", queue_arn="arn:aws:sqs:eu-west-1:123456789012:q")["Version"]
'2012-10-17'
"""
