import Foundation
import XCTest

@testable import Kafka

/// The linear-time topic matcher against the backtracking engine's answers on ordinary
/// patterns, and its cost on the patterns that make backtracking explode.
final class TopicPatternTests: XCTestCase {
    private let names = [
        "", "r", "replies-a", "replies-", "replies-team2", "rab-out", "rrrr-out", "r-out", "mod-x", "mod-", "xmod-a",
        "a.b", "a_b", "a-b", "ab", "aab", "aaab", "abc", "A1", "x9", String(repeating: "r", count: 60) + ".",
    ]
    private let patterns = [
        "replies-.*", "replies-[a-z]+", "(r[a-z]+)+-out", "(r[a-z]+)+-out|.*", "a*b", "a+b?", "a{2,3}b", "a{2}b", "a{1,}b",
        "(?:ab|a)c?", "[^a]+", "\\D\\W", "[\\D]+", "x\\D", "a\\.b", "[a-c_.-]+", "\\w+", "\\d", "[A-Z]\\d", "^mod-.*$", "(a|b)*c", "a|", "(a*)*b", "x?[0-9]",
    ]

    func testAgreesWithSwiftRegexOnWholeMatches() throws {
        for pattern in patterns {
            let compiled = try TopicPattern(pattern)
            let regex = try Regex(pattern)
            for name in names where name.count < 30 {
                let expected = (try? regex.wholeMatch(in: name)) != nil
                XCTAssertEqual(compiled.matches(name), expected, "\(pattern) on '\(name)'")
            }
        }
    }

    func testSubscriptionPatternsSearchLikeLibrdkafka() throws {
        let pattern = try TopicPattern(subscription: "^mod-")
        XCTAssertTrue(pattern.matches("mod-a"))
        XCTAssertTrue(pattern.matches("mod-"))
        XCTAssertFalse(pattern.matches("xmod-a"), "anchored at the start")
        let ended = try TopicPattern(subscription: "^mod-[a-z]$")
        XCTAssertTrue(ended.matches("mod-a"))
        XCTAssertFalse(ended.matches("mod-ab"))
    }

    /// `(r[a-z]+)+-out` against sixty `r`s and a dot: exponential for a backtracking engine,
    /// linear here (about a millisecond for 249 characters in a debug build, tens of
    /// microseconds optimized): 900 matches take well under 5 s even on a loaded machine.
    func testHostileNamesCostLinearTime() throws {
        let pattern = try TopicPattern("(r[a-z]+)+-out|(a|aa)+b|(x*)*y")
        let hostile = [String(repeating: "r", count: 248) + ".", String(repeating: "a", count: 249), String(repeating: "x", count: 249)]
        let start = ContinuousClock.now
        for _ in 0..<300 {
            for name in hostile { XCTAssertFalse(pattern.matches(name)) }
        }
        let elapsed = ContinuousClock.now - start
        print("900 hostile matches: \(elapsed)")
        XCTAssertLessThan(elapsed, .seconds(5))
    }

    func testUnsupportedSyntaxIsRefusedWithAPosition() {
        for bad in ["a++", "a*+", "(a", "a)", "[a", "*a", "a{2", "a{5,2}", "(?=a)b", "(?<n>a)", "a\\1", "a^b", "a$b", "[[:alpha:]]", "é", "a{1001}", "((((a{1000}){1000}){1000}){1000})"] {
            XCTAssertThrowsError(try TopicPattern(bad), bad) { error in
                XCTAssertTrue(error is TopicPatternError, "\(bad): \(error)")
            }
        }
    }
}
