import { parse as locate, type ParseError, printParseErrorCode } from "jsonc-parser";
import { NixGuardError } from "./errors.js";

/** 1-based, as editors count. */
export interface TextPosition {
  line: number;
  column: number;
}

/** Text that is not JSON; `where` points at the first thing wrong, as an editor would show it. */
export class JsonSyntaxError extends NixGuardError {
  readonly where: TextPosition;
  readonly problem: string;
  constructor(problem: string, where: TextPosition, source?: string) {
    super(
      "JSON_INVALID",
      `${source ? `${source}: ` : ""}invalid JSON at line ${where.line} column ${where.column}: ${problem}`,
    );
    this.where = where;
    this.problem = problem;
  }
}

/** jsonc-parser's error names (printParseErrorCode) in words. */
const PROBLEMS: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: "expected ':'",
  CommaExpected: "expected ',' (or the end of the object or array)",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: "unexpected text after the end",
  InvalidCommentToken: "comments are not JSON",
  UnexpectedEndOfComment: "comments are not JSON",
  UnexpectedEndOfString: "string not closed on its line",
  UnexpectedEndOfNumber: "invalid number",
  InvalidUnicode: "invalid \\u escape",
  InvalidEscapeCharacter: "invalid escape",
  InvalidCharacter: "control character in a string",
};

export function positionOf(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * JSON.parse, whose verdict counts; when it refuses, a tolerant scanner (jsonc-parser) finds
 * where, because V8's message sometimes has no position and quotes the text around the error,
 * which for a config file may be a password.
 */
export function parseJsonText(text: string, source?: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const errors: ParseError[] = [];
    locate(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (!first) throw new JsonSyntaxError("not valid JSON", { line: 1, column: 1 }, source);
    throw new JsonSyntaxError(
      PROBLEMS[printParseErrorCode(first.error)] ?? "not valid JSON",
      positionOf(text, first.offset),
      source,
    );
  }
}
